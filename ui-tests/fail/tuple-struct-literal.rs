// A tuple struct cannot be built by value either, even in its own module: the
// hidden last field cannot be built outside siegel.
#[siegel::protected]
struct Key([u8; 32]);

fn main() {
    let _key = Key([0; 32]);
}
