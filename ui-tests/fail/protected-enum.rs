#[siegel::protected]
enum Key {
    Short([u8; 16]),
    Long([u8; 32]),
}

fn main() {}
