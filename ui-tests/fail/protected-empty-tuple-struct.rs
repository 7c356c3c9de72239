#[siegel::protected]
struct Key();

fn main() {}
