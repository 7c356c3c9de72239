#[siegel::protected(frozen)]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
