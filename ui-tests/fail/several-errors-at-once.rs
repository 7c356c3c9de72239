// Independent mistakes are all reported, and nothing else.
#[siegel::protected]
#[derive(Clone)]
struct Key {
    bytes: Vec<u8>,
    #[protected(frozen)]
    pub id: [u8; 16],
}

fn main() {
    // The struct and its accessors still exist after the errors above.
    let _ = Key::bytes;
}
