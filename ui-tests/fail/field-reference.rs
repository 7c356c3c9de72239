#[siegel::protected]
struct Key {
    bytes: &'static [u8; 32],
}

fn main() {}
