// Attack: an innocent-looking `crate = "siegel"` is a relative path, which a
// local `mod siegel` shadows.
#![forbid(unsafe_code)]

mod siegel {
    pub use ::siegel::{Error, Protected};
    pub mod __private {
        pub use ::siegel::__private::*;
        pub trait PlainField {}
        impl PlainField for core::sync::atomic::AtomicU64 {}
    }
}

type Uses = core::sync::atomic::AtomicU64;

#[::siegel::protected(crate = "siegel")]
struct Key {
    uses: Uses,
}

fn main() {
    let key = Key::protect_zeroed().unwrap();
    key.read().unwrap().uses().store(1, core::sync::atomic::Ordering::Relaxed); // a store through a read scope
}
