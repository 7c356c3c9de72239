// Attack: `extern crate self as core;` redirects every `::core::…` path of the
// expansion to the modules below, where `ops::Drop` is a trait nobody implements,
// so the check against a `Drop` impl on the struct passes although it has one.
#![forbid(unsafe_code)]

extern crate self as core;

pub use std::{assert, fmt, mem, result};

pub mod ops {
    pub use std::ops::FnOnce;
    pub trait Drop {}
}

#[siegel::protected]
struct Key {
    bytes: [u8; 32],
}

impl Drop for Key {
    fn drop(&mut self) {
        println!("dropped field by field, which a region never does");
    }
}

fn main() {
    let _key = Key::protect_zeroed().unwrap();
}
