// Attack: an associated type hides the atomic from the name check without an
// alias, and a redirected crate path supplies a permissive field check.
#![forbid(unsafe_code)]

mod evil {
    pub use siegel::{Error, Protected};
    pub mod __private {
        pub use siegel::__private::*;
        pub trait PlainField {}
        impl PlainField for core::sync::atomic::AtomicU8 {}
    }
}

pub trait Launder {
    type Out;
}
impl Launder for u8 {
    type Out = core::sync::atomic::AtomicU8;
}

#[siegel::protected(crate = "evil")]
struct Key {
    flag: <u8 as Launder>::Out,
}

fn main() {
    let key = Key::protect_zeroed().unwrap();
    key.read().unwrap().flag().store(1, core::sync::atomic::Ordering::Relaxed);
}
