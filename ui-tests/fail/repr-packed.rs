#[siegel::protected]
#[repr(C, packed)]
struct Key {
    bytes: [u8; 31],
    counter: u64,
}

fn main() {}
