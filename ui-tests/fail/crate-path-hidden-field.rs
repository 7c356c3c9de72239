// Attack: the field checks are siegel's own, but the hidden last field's type
// comes through the redirected crate path too: here a reference (null in a
// zero-filled region), and a type anyone can build, so struct literals work.
#![forbid(unsafe_code)]

mod evil {
    pub use siegel::{Error, Protected};
    pub mod __private {
        pub use siegel::__private::*;
        pub type BuiltOnlyInItsRegion = &'static [u8; 4096];
    }
}

#[siegel::protected(crate = "evil")]
struct Key {
    bytes: [u8; 32],
}

fn main() {
    let key = Key::protect_zeroed().unwrap();
    let guard = key.read().unwrap();
    let hidden: &&[u8; 4096] = &guard.__siegel_in_place; // null
    println!("{}", hidden[0]);
}
