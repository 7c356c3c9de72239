#[siegel::protected]
struct Key {
    #[protected(frozen, frozen)]
    id: [u8; 16],
}

fn main() {}
