#[siegel::protected]
struct Keys {
    shares: [Vec<u8>; 3],
}

fn main() {}
