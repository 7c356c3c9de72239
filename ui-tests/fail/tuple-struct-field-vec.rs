#[siegel::protected]
struct Key(Vec<u8>);

fn main() {}
