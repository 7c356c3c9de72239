#[siegel::protected]
struct Key {
    bytes: Vec<u8>,
}

fn main() {}
