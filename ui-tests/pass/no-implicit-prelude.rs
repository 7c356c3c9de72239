// Hygiene: the expansion names everything by absolute path.
#![no_implicit_prelude]

extern crate siegel;
extern crate std;

#[siegel::protected]
pub struct Key {
    bytes: [u8; 32],
    #[protected(frozen)]
    id: u64,
}

#[siegel::protected]
pub struct Sized<const N: usize> {
    bytes: [u8; N],
}

// Names the prelude would otherwise provide, shadowed by local items.
pub struct Result;
pub struct Option;
pub trait FnOnce {}
pub trait Drop {}

fn main() {
    let key = Key::protect_with(|k| k.bytes_mut()[0] = 1).unwrap();
    std::assert_eq!(key.read().unwrap().bytes()[0], 1);
    std::assert_eq!(*key.read().unwrap().id(), 0);
    let sized = Sized::<4>::protect_zeroed().unwrap();
    std::assert_eq!(sized.read().unwrap().bytes(), &[0; 4]);
}
