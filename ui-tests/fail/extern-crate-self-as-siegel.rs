// Attack: no `crate` argument at all. `extern crate self as siegel;` puts this
// crate in the extern prelude as `siegel`, so the default `::siegel::…` paths
// resolve to the modules below.
#![forbid(unsafe_code)]

extern crate self as siegel;
// The real crate, under another name.
extern crate siegel as siegel_real;

pub use ::siegel_real::{protected, Error, Plain, Protected};

pub mod __private {
    pub use ::siegel_real::__private::*;
    pub trait PlainField {}
    impl PlainField for core::sync::atomic::AtomicU32 {}
}


type Counter = core::sync::atomic::AtomicU32;

#[protected]
pub struct Key {
    uses: Counter,
}

fn main() {
    let key = Key::protect_zeroed().unwrap();
    key.read().unwrap().uses().store(1, core::sync::atomic::Ordering::Relaxed);
}
