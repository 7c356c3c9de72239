// The runtime crate under another name, as with
// `renamed = { package = "siegel", ... }` in Cargo.toml, and
// `#[protected(crate = "renamed")]`. To be sure the expansion takes every path
// from the argument, `::siegel` names this crate here, which has none of siegel's
// items: a stray `::siegel::…` in the expansion would not resolve.
#![forbid(unsafe_code)]

extern crate self as siegel;
extern crate siegel as renamed;

#[renamed::protected(crate = "renamed")]
pub struct Key {
    bytes: [u8; 32],
    #[protected(frozen)]
    id: u64,
}

#[renamed::protected(crate = "::renamed")]
pub struct Sized<const N: usize> {
    bytes: [u8; N],
}

fn main() -> Result<(), renamed::Error> {
    let mut key = Key::protect_with(|k| k.bytes_mut()[0] = 1)?;
    key.write()?.bytes_mut()[1] = 2;
    assert_eq!(key.read()?.bytes()[..2], [1, 2]);
    assert_eq!(*key.read()?.id(), 0);
    let sized = Sized::<4>::protect_zeroed()?;
    assert_eq!(sized.read()?.bytes(), &[0; 4]);
    Ok(())
}
