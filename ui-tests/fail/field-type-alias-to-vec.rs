// The name check cannot see through an alias; the generated bound still catches it.
type Bytes = Vec<u8>;

#[siegel::protected]
struct Key {
    bytes: Bytes,
}

fn main() {}
