#[siegel::protected]
struct Key {
    bytes: *const u8,
}

fn main() {}
