//! The constructors of a value or a slice: zeroed, initialised in place (by an
//! initialiser that may fail: [`InitResult`]), or taken from a variable, a
//! slice or a `String` (which is wiped; [`Source`]). Each takes the
//! [`Place`] the secret goes to first.

#![allow(unsafe_code)]

use core::ptr::NonNull;

use crate::{
    error::Error,
    place::{home, Home, Place},
    protected::Protected,
    secret::{Plain, Secret},
};

mod init {
    use crate::error::Error;

    /// The hidden half of [`InitResult`](super::InitResult).
    pub trait Sealed {
        /// The error a constructor returns.
        type Error: From<Error>;
        /// `Ok` if the initialiser succeeded.
        fn into_result(self) -> Result<(), Self::Error>;
    }

    impl Sealed for () {
        type Error = Error;
        fn into_result(self) -> Result<(), Error> {
            Ok(())
        }
    }

    impl<E: From<Error>> Sealed for Result<(), E> {
        type Error = E;
        fn into_result(self) -> Result<(), E> {
            self
        }
    }
}

/// What an initialiser passed to [`init_with_in`](Protected::init_with_in) or
/// [`init_slice_with_in`](Protected::init_slice_with_in) returns: `()` (it
/// cannot fail; the constructor returns a [`siegel::Error`](Error)), or
/// `Result<(), E>` for any `E: From<siegel::Error>` (on `Err` the new secret is
/// wiped and `E` returned) — as `main` may return `()` or a `Result`. Sealed.
pub trait InitResult: init::Sealed {}
impl InitResult for () {}
impl<E: From<Error>> InitResult for Result<(), E> {}

/// The error type of a constructor whose initialiser returns `R`.
type InitError<R> = <R as init::Sealed>::Error;

impl<T: Plain> Protected<T> {
    /// A new secret in `place` holding an all-zero `T`: a region of its own
    /// ([`Dedicated`](crate::place::Dedicated), or one made with [`Options`](crate::options::Options)), or a slot of a
    /// [`Pool`](crate::pool::Pool) (`&pool`; a `T` larger than the largest slot, 2032
    /// bytes, gets a region of its own).
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Backend, Dedicated, Mechanism, Options, Pool, Protected};
    ///
    /// let counter = Protected::<u64>::zeroed_in(Dedicated)?;
    /// let key = Protected::<[u8; 32]>::zeroed_in(Options::new().backend(Backend::Mprotect))?;
    /// assert_eq!(key.info().mechanism, Mechanism::PageProtection);
    /// let pool = Pool::new();
    /// assert!(Protected::<u64>::zeroed_in(&pool)?.info().pooled);
    /// # let _ = counter;
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::MemoryLock`] (over `RLIMIT_MEMLOCK`), [`Error::Map`] (address space
    /// or `vm.max_map_count`), [`Error::PkuUnavailable`] (PKU forced where it does
    /// not exist), [`Error::KeysExhausted`], [`Error::InvalidBackend`],
    /// [`Error::Protect`], [`Error::Random`], [`Error::AlignmentTooLarge`];
    /// [`Error::PoolExhausted`] in a pool at its limit.
    pub fn zeroed_in(place: impl Place) -> Result<Self, Error> {
        home(&place).zeroed()
    }

    /// A new secret in `place` whose `T` is initialised in place by `init`, in
    /// a write scope (it starts zeroed), so the secret need not pass through
    /// the stack. `init` returns `()`, or a `Result` if it can fail (see
    /// [`InitResult`]): on `Err` the secret is wiped (its region unmapped or its
    /// slot freed) and the error returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Pool, Protected, Text};
    ///
    /// let pool = Pool::new();
    /// let keys: Vec<Protected<[u8; 32]>> = (0..100u8)
    ///     .map(|i| Protected::init_with_in(&pool, |k: &mut [u8; 32]| k[0] = i))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(keys[7].read()?[0], 7);
    ///
    /// // An initialiser that can fail:
    /// let mut typed = String::from("correct horse");
    /// let password = Protected::<Text<64>>::init_with_in(Dedicated, |t| t.set_from(&mut typed))?;
    /// assert!(typed.is_empty()); // its bytes were wiped
    /// assert_eq!(password.read()?.as_str(), "correct horse");
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// A fallible `init`'s error type `E` is inferred from its last expression
    /// (above: `set_from`'s `siegel::Error`) or from the function the result is
    /// returned from. A closure that ends in `Ok(())` after `?`s has neither
    /// (rustc: E0282/E0283), so name the error once:
    ///
    /// ```
    /// use siegel::{Dedicated, Load, Protected};
    ///
    /// let key = Protected::<[u8; 32]>::init_with_in(Dedicated, |k| {
    ///     k.load_hex("2a".repeat(32))?;
    ///     k[0] ^= 1;
    ///     Ok::<_, siegel::Error>(()) // or `Box<dyn std::error::Error>`, your own error
    /// })?;
    /// assert_eq!(key.read()?[0], 0x2b);
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`zeroed_in`](Self::zeroed_in), converted into the initialiser's
    /// error type, or what `init` returned.
    pub fn init_with_in<R: InitResult>(
        place: impl Place,
        init: impl FnOnce(&mut T) -> R,
    ) -> Result<Self, InitError<R>> {
        let mut handle = Self::zeroed_in(place)?;
        handle.with_write(|value| init::Sealed::into_result(init(value)))?;
        Ok(handle)
    }
}

impl<T: Plain> Protected<[T]> {
    /// A new secret in `place` holding `len` zeroed elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Protected};
    ///
    /// let buffer = Protected::<[u8]>::zeroed_slice_in(Dedicated, 64)?;
    /// assert_eq!(buffer.len(), 64);
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Protected::zeroed_in`], and [`Error::TooLarge`].
    pub fn zeroed_slice_in(place: impl Place, len: usize) -> Result<Self, Error> {
        home(&place).zeroed_slice(len)
    }

    /// A new secret in `place` of `len` elements initialised in place by
    /// `init`, in a write scope (they start zeroed); `init` may fail, as for
    /// [`init_with_in`](Protected::init_with_in).
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Protected};
    ///
    /// let ramp = Protected::<[u16]>::init_slice_with_in(Dedicated, 4, |s| {
    ///     s.iter_mut().zip(0..).for_each(|(x, i)| *x = i);
    /// })?;
    /// assert_eq!(&*ramp.read()?, &[0, 1, 2, 3]);
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`zeroed_slice_in`](Self::zeroed_slice_in), converted into the
    /// initialiser's error type, or what `init` returned.
    pub fn init_slice_with_in<R: InitResult>(
        place: impl Place,
        len: usize,
        init: impl FnOnce(&mut [T]) -> R,
    ) -> Result<Self, InitError<R>> {
        let mut handle = Self::zeroed_slice_in(place, len)?;
        handle.with_write(|value| init::Sealed::into_result(init(value)))?;
        Ok(handle)
    }
}

mod sealed {
    use crate::{error::Error, place::Home, protected::Protected, secret::Secret};

    /// The hidden half of [`Source`](super::Source).
    pub trait Source<T: ?Sized + Secret> {
        /// Moves `self` into a new secret in `home`, then wipes `self`.
        fn take(&mut self, home: Home<'_>) -> Result<Protected<T>, Error>;
    }
}

/// What [`take_in`](Protected::take_in) moves into a `Protected<T>`: a `T`, a slice
/// `[T]` of them (copied), or for text a `String` (its whole buffer wiped,
/// spare capacity included, and emptied). Sealed.
pub trait Source<T: ?Sized + Secret>: sealed::Source<T> {}

impl<T: Plain> sealed::Source<T> for T {
    fn take(&mut self, home: Home<'_>) -> Result<Protected<T>, Error> {
        let mut handle = home.zeroed::<T>()?;
        copy_and_wipe(core::slice::from_mut(self), core::slice::from_mut(&mut *handle.write()?));
        Ok(handle)
    }
}
impl<T: Plain> Source<T> for T {}

impl<T: Plain> sealed::Source<[T]> for [T] {
    fn take(&mut self, home: Home<'_>) -> Result<Protected<[T]>, Error> {
        let mut handle = home.zeroed_slice::<T>(self.len())?;
        copy_and_wipe(self, &mut handle.write()?);
        Ok(handle)
    }
}
impl<T: Plain> Source<[T]> for [T] {}

impl sealed::Source<str> for String {
    fn take(&mut self, home: Home<'_>) -> Result<Protected<str>, Error> {
        crate::load::take_string(home, self)
    }
}
impl Source<str> for String {}

impl<T: ?Sized + Secret> Protected<T> {
    /// Moves `source` into a new secret in `place`, then wipes it with volatile
    /// zeros: a `T`, a slice `[T]` (copied; the slice keeps its length, now
    /// zeros), or a `String` for `Protected<str>` (its whole buffer wiped, spare
    /// capacity included, and emptied).
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{CtEq, Dedicated, Pool, Protected};
    ///
    /// let mut key = [7u8; 32];
    /// let protected = Protected::take_in(Dedicated, &mut key)?;
    /// assert_eq!(key, [0; 32]); // wiped
    /// assert_eq!(protected.read()?[0], 7);
    ///
    /// let pool = Pool::new();
    /// let mut typed = String::from("hunter2");
    /// let password = Protected::<str>::take_in(&pool, &mut typed)?;
    /// assert!(typed.is_empty());
    /// assert!(password.read()?.ct_eq("hunter2"));
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Protected::zeroed_in`] and [`Protected::zeroed_slice_in`]; `source`
    /// is left untouched on error.
    pub fn take_in<S: ?Sized + Source<T>>(
        place: impl Place,
        source: &mut S,
    ) -> Result<Self, Error> {
        sealed::Source::take(source, home(&place))
    }
}

/// Copies `source` to `dest` (equal lengths), then overwrites `source` with zeros
/// using volatile stores.
fn copy_and_wipe<T: Plain>(source: &mut [T], dest: &mut [T]) {
    let len = core::mem::size_of_val(source);
    debug_assert_eq!(len, core::mem::size_of_val(dest));
    let src = source.as_mut_ptr().cast::<u8>();
    // SAFETY:
    // - both slices are valid for `len` bytes and cannot overlap (`dest` lives in a
    //   fresh region, `source` is an exclusive borrow elsewhere);
    // - `T: Plain` has no drop glue, so a bitwise copy is a move.
    unsafe { core::ptr::copy_nonoverlapping(src, dest.as_mut_ptr().cast::<u8>(), len) };
    // SAFETY:
    // - `source` is valid for writes of `len` bytes and borrowed exclusively;
    //   all-zero is a valid `T` (`Plain`), so zeroing byte by byte ends in a valid
    //   value, and nothing reads the intermediate states.
    unsafe { crate::pages::wipe(NonNull::from(source).cast(), len) };
}
