//! The constructors of a value or a slice: zeroed, initialised in place, or
//! taken from a variable, a slice or a `String` (which is wiped; [`Source`]). Each has a `…_in(place, …)` form
//! (see [`Place`]); the form without `_in` is that one with
//! [`Options::default`].

#![allow(unsafe_code)]

use core::ptr::NonNull;

use crate::{
    error::Error,
    options::Options,
    place::{home, Home, Place},
    protected::Protected,
    secret::{Plain, Secret},
};

impl<T: Plain> Protected<T> {
    /// A new region holding an all-zero `T`, with [`Options::default`]; see
    /// [`zeroed_in`](Self::zeroed_in).
    ///
    /// # Errors
    ///
    /// As [`zeroed_in`](Self::zeroed_in).
    pub fn zeroed() -> Result<Self, Error> {
        Self::zeroed_in(Options::default())
    }

    /// A new secret holding an all-zero `T`, in `place`: a dedicated region made
    /// with these [`Options`], or a slot of a [`Pool`](crate::Pool) (`&pool`; a
    /// `T` larger than the largest slot, 2032 bytes, gets a dedicated region).
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Backend, Mechanism, Options, Pool, Protected};
    ///
    /// let key = Protected::<[u8; 32]>::zeroed_in(Options::new().backend(Backend::Mprotect))?;
    /// assert_eq!(key.mechanism(), Mechanism::PageProtection);
    /// let pool = Pool::new();
    /// assert!(Protected::<u64>::zeroed_in(&pool)?.is_pooled());
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

    /// A new region whose `T` is initialised in place by `init` (it starts
    /// zeroed), so the secret need not pass through the stack; see
    /// [`init_with_in`](Self::init_with_in).
    ///
    /// # Errors
    ///
    /// As [`zeroed_in`](Self::zeroed_in).
    pub fn init_with(init: impl FnOnce(&mut T)) -> Result<Self, Error> {
        Self::init_with_in(Options::default(), init)
    }

    /// A new secret in `place` whose `T` is initialised in place by `init`, in
    /// a write scope (it starts zeroed).
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Pool, Protected};
    ///
    /// let pool = Pool::new();
    /// let keys: Vec<Protected<[u8; 32]>> = (0..100u8)
    ///     .map(|i| Protected::init_with_in(&pool, |k: &mut [u8; 32]| k[0] = i))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(keys[7].read()?[0], 7);
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`zeroed_in`](Self::zeroed_in).
    pub fn init_with_in(place: impl Place, init: impl FnOnce(&mut T)) -> Result<Self, Error> {
        let mut handle = Self::zeroed_in(place)?;
        init(&mut *handle.write()?);
        Ok(handle)
    }

    /// As [`init_with`](Self::init_with), for an initialiser that can fail: on
    /// `Err` the region is wiped and unmapped and the error returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Protected, Text};
    ///
    /// let mut typed = String::from("correct horse");
    /// let password = Protected::<Text<64>>::try_init_with(|t| t.set_from(&mut typed))?;
    /// assert!(typed.is_empty()); // its bytes were wiped
    /// assert_eq!(password.read()?.as_str(), "correct horse");
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// `init`'s error type `E` is inferred from its last expression (above:
    /// `set_from`'s `siegel::Error`) or from the function the result is
    /// returned from. A closure that ends in `Ok(())` after `?`s has neither
    /// (rustc: E0282/E0283), so name the error once:
    ///
    /// ```
    /// use siegel::{Load, Protected};
    ///
    /// let key = Protected::<[u8; 32]>::try_init_with(|k| {
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
    /// As [`try_init_with_in`](Self::try_init_with_in).
    pub fn try_init_with<E: From<Error>>(
        init: impl FnOnce(&mut T) -> Result<(), E>,
    ) -> Result<Self, E> {
        Self::try_init_with_in(Options::default(), init)
    }

    /// A new secret in `place` whose `T` is initialised in place by `init`,
    /// which may fail: the secret is then wiped (and its region unmapped or its
    /// slot freed) and `init`'s error returned.
    ///
    /// # Errors
    ///
    /// As [`zeroed_in`](Self::zeroed_in), converted into `E`, or what `init`
    /// returned.
    pub fn try_init_with_in<E: From<Error>>(
        place: impl Place,
        init: impl FnOnce(&mut T) -> Result<(), E>,
    ) -> Result<Self, E> {
        let mut handle = Self::zeroed_in(place)?;
        handle.with_write(init)?;
        Ok(handle)
    }
}

impl<T: Plain> Protected<[T]> {
    /// A new region holding `len` zeroed elements, with [`Options::default`];
    /// see [`zeroed_slice_in`](Self::zeroed_slice_in).
    ///
    /// # Errors
    ///
    /// As [`zeroed_slice_in`](Self::zeroed_slice_in).
    pub fn zeroed_slice(len: usize) -> Result<Self, Error> {
        Self::zeroed_slice_in(Options::default(), len)
    }

    /// A new secret in `place` holding `len` zeroed elements.
    ///
    /// # Errors
    ///
    /// As [`Protected::zeroed_in`], and [`Error::TooLarge`].
    pub fn zeroed_slice_in(place: impl Place, len: usize) -> Result<Self, Error> {
        home(&place).zeroed_slice(len)
    }

    /// A new region of `len` elements initialised in place by `init`; see
    /// [`init_slice_with_in`](Self::init_slice_with_in).
    ///
    /// # Errors
    ///
    /// As [`zeroed_slice_in`](Self::zeroed_slice_in).
    pub fn init_slice_with(len: usize, init: impl FnOnce(&mut [T])) -> Result<Self, Error> {
        Self::init_slice_with_in(Options::default(), len, init)
    }

    /// A new secret in `place` of `len` elements initialised in place by
    /// `init`, in a write scope (they start zeroed).
    ///
    /// # Errors
    ///
    /// As [`zeroed_slice_in`](Self::zeroed_slice_in).
    pub fn init_slice_with_in(
        place: impl Place,
        len: usize,
        init: impl FnOnce(&mut [T]),
    ) -> Result<Self, Error> {
        let mut handle = Self::zeroed_slice_in(place, len)?;
        init(&mut handle.write()?);
        Ok(handle)
    }
}

mod sealed {
    use crate::{place::Home, Error, Protected, Secret};

    /// The hidden half of [`Source`](super::Source).
    pub trait Source<T: ?Sized + Secret> {
        /// Moves `self` into a new secret in `home`, then wipes `self`.
        fn take(&mut self, home: Home<'_>) -> Result<Protected<T>, Error>;
    }
}

/// What [`take`](Protected::take) moves into a `Protected<T>`: a `T`, a slice
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
    /// Moves `source` into a new region and wipes it with volatile zeros, with
    /// [`Options::default`]; see [`take_in`](Self::take_in).
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::Protected;
    ///
    /// let mut key = [7u8; 32];
    /// let protected = Protected::take(&mut key)?;
    /// assert_eq!(key, [0; 32]); // wiped
    /// assert_eq!(protected.read()?[0], 7);
    ///
    /// let mut typed = String::from("hunter2");
    /// let password = Protected::<str>::take(&mut typed)?;
    /// assert!(typed.is_empty());
    /// assert!(password.read()?.ct_eq("hunter2"));
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`take_in`](Self::take_in).
    pub fn take<S: ?Sized + Source<T>>(source: &mut S) -> Result<Self, Error> {
        Self::take_in(Options::default(), source)
    }

    /// Moves `source` into a new secret in `place`, then wipes it with volatile
    /// zeros: a `T`, a slice `[T]` (copied; the slice keeps its length, now
    /// zeros), or a `String` for `Protected<str>` (its whole buffer wiped, spare
    /// capacity included, and emptied).
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
