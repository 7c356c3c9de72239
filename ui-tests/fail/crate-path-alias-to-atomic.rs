// Attack: `crate = "..."` points at a local module that re-exports siegel but
// declares its own field-check trait, and a type alias hides the atomic from the
// name check. A store through the read scope would fault (or, under PKU, corrupt
// the secret's read-only guarantee). The unsafe `Plain` impl must not depend on a
// path the user chooses.
#![forbid(unsafe_code)]

mod evil {
    pub use siegel::{Error, Protected};
    pub mod __private {
        pub use siegel::__private::*;
        // Shadows the glob: a permissive field check.
        pub trait PlainField {}
        impl PlainField for core::sync::atomic::AtomicU64 {}
    }
}

type Counter = core::sync::atomic::AtomicU64;

#[siegel::protected(crate = "evil")]
struct Key {
    uses: Counter,
}

fn main() {
    let key = Key::protect_zeroed().unwrap();
    let guard = key.read().unwrap();
    guard.uses().fetch_add(1, core::sync::atomic::Ordering::Relaxed);
}
