// A region cannot align beyond the page size.
#[siegel::protected]
#[repr(align(8192))]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
