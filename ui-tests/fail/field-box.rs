#[siegel::protected]
struct Key {
    bytes: Box<[u8; 32]>,
}

fn main() {}
