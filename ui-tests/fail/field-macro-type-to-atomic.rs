// A macro in type position hides the atomic from the name check; the checks see
// the expanded type.
macro_rules! counter {
    () => {
        ::core::sync::atomic::AtomicU64
    };
}

#[siegel::protected]
struct Key {
    uses: counter!(),
}

fn main() {}
