#[siegel::protected]
struct Key {
    #[protected(crate = "siegel")]
    bytes: [u8; 32],
}

fn main() {}
