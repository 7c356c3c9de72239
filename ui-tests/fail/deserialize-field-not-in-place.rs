// Every field of a `#[protected(deserialize)]` struct must deserialize in place:
// a nested `#[protected]` struct needs `deserialize` too.
#[siegel::protected]
struct Inner {
    key: [u8; 32],
}

#[siegel::protected(deserialize)]
struct Outer {
    inner: Inner,
    port: u16,
}

fn main() {}
