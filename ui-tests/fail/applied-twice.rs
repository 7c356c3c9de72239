#[siegel::protected]
#[siegel::protected]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
