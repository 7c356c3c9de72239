#[siegel::protected]
#[derive(PartialEq)]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
