#[siegel::protected]
#[derive(Clone)]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
