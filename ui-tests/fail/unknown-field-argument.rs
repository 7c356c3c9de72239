#[siegel::protected]
struct Key {
    #[protected(skip)]
    bytes: [u8; 32],
}

fn main() {}
