#[siegel::protected]
struct Password {
    text: String,
}

fn main() {}
