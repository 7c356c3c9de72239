#[siegel::protected]
#[derive(Copy)]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
