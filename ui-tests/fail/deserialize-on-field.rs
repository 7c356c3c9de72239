// `deserialize` belongs on the struct, once.
#[siegel::protected(deserialize, deserialize)]
struct Key {
    #[protected(deserialize)]
    bytes: [u8; 32],
}

fn main() {}
