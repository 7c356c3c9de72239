#[siegel::protected]
struct Key<T> {
    bytes: T,
}

fn main() {}
