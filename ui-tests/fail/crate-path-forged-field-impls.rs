// Attack on the per-field checks: the redirected crate path also replaces
// `PlainFieldAt`, so the impls #[protected] writes for each field are of a
// permissive trait. The `Plain` impl still requires siegel's own.
#![forbid(unsafe_code)]

mod evil {
    pub use siegel::{Error, Protected};
    pub mod __private {
        pub use siegel::__private::*;
        pub trait PlainFieldAt<const I: usize> {
            type Field;
        }
        pub trait PlainField {}
    }
}

type Counter = core::sync::atomic::AtomicU64;

#[siegel::protected(crate = "evil")]
struct Key {
    uses: Counter,
}

fn main() {}
