// Attack on the `Plain` impl itself: the redirected crate path supplies its own
// `impl_plain!`, which writes an unconditional `unsafe impl`. That is the user's
// own unsafe code, and `#![forbid(unsafe_code)]` rejects it.
#![forbid(unsafe_code)]

mod evil {
    pub use siegel::{Error, Protected};
    pub mod __private {
        pub use siegel::__private::*;
        macro_rules! impl_plain {
            (impl [] $ty:ty where $($rest:tt)*) => {
                unsafe impl ::siegel::Plain for $ty {}
            };
        }
        pub(crate) use impl_plain;
        pub trait PlainFieldAt<const I: usize> {
            type Field;
        }
    }
}

type Counter = core::sync::atomic::AtomicU64;

#[siegel::protected(crate = "evil")]
struct Key {
    uses: Counter,
}

fn main() {}
