#[siegel::protected]
fn key() -> [u8; 32] {
    [0; 32]
}

fn main() {}
