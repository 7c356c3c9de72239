#[siegel::protected]
struct Key {
    bytes: [u8; 32],
    #[cfg(any())]
    spare: [u8; 32],
}

fn main() {}
