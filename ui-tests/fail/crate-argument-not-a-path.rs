#[siegel::protected(crate = "not a path")]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
