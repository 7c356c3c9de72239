#[siegel::protected]
pub struct Key(#[protected(frozen)] pub [u8; 8]);

fn main() {}
