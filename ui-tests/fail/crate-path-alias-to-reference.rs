// Attack: a reference behind an alias, through a redirected crate path. A region
// starts zero-filled, so the field would be a null `&'static u64`.
#![forbid(unsafe_code)]

mod evil {
    pub use siegel::{Error, Protected};
    pub mod __private {
        pub use siegel::__private::*;
        pub trait PlainField {}
        impl<T: ?Sized> PlainField for &'static T {}
    }
}

type Pointer = &'static u64;

#[siegel::protected(crate = "evil")]
struct Key {
    target: Pointer,
}

fn main() {
    let key = Key::protect_zeroed().unwrap();
    let value: u64 = **key.read().unwrap().target(); // reads through a null reference
    println!("{value}");
}
