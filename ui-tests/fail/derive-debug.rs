#[siegel::protected]
#[derive(Debug)]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
