// Attack on the helper that writes the `unsafe impl Plain`: it is reachable by
// path, so a crate can call it with a field list that leaves a field out. The
// helper must check the struct itself, not trust its input.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};
use siegel::Dedicated;

#[repr(C)]
pub struct Key {
    bytes: [u8; 8],
    uses: AtomicU64,
    hidden: siegel::__private::BuiltOnlyInItsRegion,
}

impl siegel::__private::PlainFieldAt<0> for Key {
    type Field = [u8; 8];
}

siegel::__private::impl_plain! {
    impl [] Key where [];
    fields { bytes: 0 };
    hidden: hidden;
}

fn main() {
    let key = siegel::Protected::<Key>::zeroed_in(Dedicated).unwrap();
    key.read().unwrap().uses.fetch_add(1, Ordering::Relaxed); // a store in a read scope
}
