#[siegel::protected(crate = "siegel", crate = "siegel")]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
