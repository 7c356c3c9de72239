#[siegel::protected(zeroize)]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
