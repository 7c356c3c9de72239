#[siegel::protected]
#[derive(Default)]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
