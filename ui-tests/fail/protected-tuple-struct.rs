#[siegel::protected]
struct Key([u8; 32]);

fn main() {}
