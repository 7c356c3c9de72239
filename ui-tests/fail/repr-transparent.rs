#[siegel::protected]
#[repr(transparent)]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
