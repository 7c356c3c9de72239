#[siegel::protected]
union Key {
    bytes: [u8; 32],
    words: [u64; 4],
}

fn main() {}
