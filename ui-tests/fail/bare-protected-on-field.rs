#[siegel::protected]
struct Key {
    #[protected]
    bytes: [u8; 32],
}

fn main() {}
