//! Secrets generated in place: the operating system's random number generator
//! (`getrandom(2)` on Linux, through the [`getrandom`] crate) writes straight into
//! the protected pages, inside a write scope, so the bytes never exist anywhere
//! else.
//!
//! # Safety
//!
//! Random bytes may only land in types for which every bit pattern is a valid
//! value and which have no padding: [`AnyBitPattern`], sealed, implemented here
//! for the integer types and arrays and slices of them. Not for `bool`, `char`,
//! floats (valid, but a random float is never what a key wants), [`Text`] /
//! [`Bytes`] (their length field must stay within capacity) or `#[protected]`
//! structs (which may hold any of those); fill their byte fields one by one with
//! [`fill_random`].
//!
//! [`Text`]: crate::Text
//! [`Bytes`]: crate::Bytes

#![allow(unsafe_code)]

use std::io;

use crate::{
    error::Error,
    place::{home, Place},
    protected::Protected,
    secret::Plain,
};

mod sealed {
    pub trait Sealed {}
}

/// Types that any sequence of bytes is a valid value of: the integers, and
/// arrays and slices of them. Sealed. [`Protected::random_in`], [`fill_random`] and
/// [`Protected::read_exact_from_in`] write arbitrary bytes into them.
///
/// `bool` is not one (only 0 and 1 are valid), nor is a `#[protected]` struct.
///
/// # Safety
///
/// Every initialised byte sequence of `size_of_val(value)` bytes is a valid
/// value of the type, and the type has no padding bytes.
pub unsafe trait AnyBitPattern: sealed::Sealed + Send + Sync + 'static {}

macro_rules! any_bit_pattern {
    ($($t:ty),* $(,)?) => { $(
        impl sealed::Sealed for $t {}
        // SAFETY:
        // - an integer type has no padding and no invalid bit pattern [1].
        // [1] https://doc.rust-lang.org/reference/types/numeric.html
        unsafe impl AnyBitPattern for $t {}
    )* };
}
any_bit_pattern!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl<T: AnyBitPattern, const N: usize> sealed::Sealed for [T; N] {}
// SAFETY:
// - an array is its elements back to back, with no padding between or after
//   them (its size is exactly `N * size_of::<T>()`) [1]; each element accepts
//   any bytes and has no padding, so the array does too.
// [1] https://doc.rust-lang.org/reference/type-layout.html#array-layout
unsafe impl<T: AnyBitPattern, const N: usize> AnyBitPattern for [T; N] {}

impl<T: AnyBitPattern> sealed::Sealed for [T] {}
// SAFETY:
// - as for arrays: a slice's elements are laid out back to back without padding.
unsafe impl<T: AnyBitPattern> AnyBitPattern for [T] {}

/// The bytes of `value`, writable.
pub(crate) fn bytes_of_mut<T: ?Sized + AnyBitPattern>(value: &mut T) -> &mut [u8] {
    let len = core::mem::size_of_val(value);
    let ptr = core::ptr::from_mut(value).cast::<u8>();
    // SAFETY:
    // - `ptr..ptr + len` is exactly `value`, valid for reads and writes, and the
    //   returned slice reborrows `value` exclusively for its lifetime;
    // - every byte is initialised: `T` has no padding (`AnyBitPattern`);
    // - any bytes written through the slice leave a valid `T` (`AnyBitPattern`);
    // - `u8` has alignment 1.
    unsafe { core::slice::from_raw_parts_mut(ptr, len) }
}

/// Fills `dest` with bytes from the operating system's random number generator
/// (`getrandom(2)`), written by the kernel straight into `dest`: no copy is
/// made. Use it in the write scope of a protected secret (in `init_with_in`
/// or `with_write`), so the random bytes exist only there.
///
/// # Examples
///
/// A `#[protected]` newtype key, generated in place:
///
/// ```
/// use siegel::{protected, Protected};
///
/// #[protected]
/// struct Key([u8; 32]);
///
/// let key = Protected::<Key>::init_with_in(siegel::Dedicated, |k| siegel::fill_random(k.get_mut()))?;
/// assert_ne!(key.read()?.get(), &[0; 32]); // fails with probability 2^-256
/// # Ok::<(), siegel::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Random`] if the kernel's generator fails (it does not, once seeded,
/// on Linux 3.17+); `dest` may then be partly filled.
pub fn fill_random<T: ?Sized + AnyBitPattern>(dest: &mut T) -> Result<(), Error> {
    getrandom::fill(bytes_of_mut(dest)).map_err(|e| Error::Random { source: io::Error::from(e) })
}

impl<T: Plain + AnyBitPattern> Protected<T> {
    /// A new secret in `place` holding a random `T`, generated in place (see
    /// [`fill_random`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Pool, Protected};
    ///
    /// let key = Protected::<[u8; 32]>::random_in(Dedicated)?;
    /// let seed = Protected::<[u64; 4]>::random_in(Dedicated)?;
    /// let pool = Pool::new();
    /// let session = Protected::<[u8; 32]>::random_in(&pool)?;
    /// assert!(session.info().pooled);
    /// # let _ = (key, seed);
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// Random bytes never go into a type with invalid bit patterns:
    ///
    /// ```compile_fail
    /// let flag = siegel::Protected::<bool>::random_in(siegel::Dedicated);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`zeroed_in`](Self::zeroed_in), and [`Error::Random`].
    pub fn random_in(place: impl Place) -> Result<Self, Error> {
        let mut handle = home(&place).zeroed::<T>()?;
        handle.with_write(fill_random)?;
        Ok(handle)
    }
}

impl<T: Plain + AnyBitPattern> Protected<[T]> {
    /// A new secret in `place` of `len` random elements, generated in place.
    ///
    /// # Examples
    ///
    /// ```
    /// let nonce_seed = siegel::Protected::<[u8]>::random_slice_in(siegel::Dedicated, 48)?;
    /// assert_eq!(nonce_seed.len(), 48);
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`zeroed_slice_in`](Self::zeroed_slice_in), and [`Error::Random`].
    pub fn random_slice_in(place: impl Place, len: usize) -> Result<Self, Error> {
        let mut handle = home(&place).zeroed_slice::<T>(len)?;
        handle.with_write(fill_random)?;
        Ok(handle)
    }
}
