use std::cell::Cell;

#[siegel::protected]
struct Counter {
    uses: Cell<u64>,
}

fn main() {}
