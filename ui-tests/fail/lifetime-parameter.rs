#[siegel::protected]
struct Key<'a> {
    bytes: &'a [u8; 32],
}

fn main() {}
