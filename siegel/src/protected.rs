//! The typed layer over the region core: [`Protected`], its guards, and the traits
//! that say what may live in a protected region.

#![allow(unsafe_code)]

use core::{
    fmt,
    marker::PhantomData,
    ops::{Deref, DerefMut, Range},
    ptr::NonNull,
};

use subtle::ConstantTimeEq;

use crate::{
    access::Access,
    backing::Backing,
    error::{Error, TransitionError},
    options::{Mechanism, Memory, Options},
    perm::{NoAccess, Permission, ReadOnly, ReadWrite, Readable, Writable, WriteScope},
    pool::Pool,
};

/// Plain data that can be kept in a protected region.
///
/// # Safety
///
/// Implementors must be:
///
/// - valid when every byte is zero (regions start zero-filled);
/// - self-contained: no pointers, references, or handles to memory elsewhere
///   (`Box`, `Vec`, `String`, `&T`), which would leave the secret outside the
///   protected pages;
/// - free of drop glue (a region is wiped, never dropped field by field);
/// - free of interior mutability (`Cell`, atomics): read guards hand out `&T` over
///   read-only pages, and a store through a shared reference would fault.
///
/// `#[protected]` implements it for structs after checking every field.
pub unsafe trait Plain: Sized + Send + Sync + 'static {}

macro_rules! plain {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY:
        // - primitive numbers and `bool`: all-zero is valid (0, 0.0, false), they
        //   hold no pointer, have no drop glue and no interior mutability.
        unsafe impl Plain for $t {}
    )* };
}
plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool);

// SAFETY:
// - an array of `Plain` elements is all-zero valid, pointer-free, without drop glue
//   and without interior mutability because each element is.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// Values a secret can be compared with in constant time: the time taken does not
/// depend on the contents or on where they differ. Implemented for integers and
/// for arrays and slices of them (through [`subtle`]); `#[protected]` structs are
/// compared field by field with their own accessors.
///
/// For slices the **length is public**: slices of different lengths compare
/// unequal at once, and the time taken grows with the length. Keep a secret whose
/// length must stay hidden in a fixed-size array (or pad it to one).
pub trait CtEq {
    /// `true` if `self == other`, computed without data-dependent branches.
    fn ct_eq(&self, other: &Self) -> bool;
}

impl<T: ConstantTimeEq> CtEq for [T] {
    fn ct_eq(&self, other: &Self) -> bool {
        bool::from(ConstantTimeEq::ct_eq(self, other))
    }
}

impl<T: ConstantTimeEq, const N: usize> CtEq for [T; N] {
    fn ct_eq(&self, other: &Self) -> bool {
        bool::from(ConstantTimeEq::ct_eq(&self[..], &other[..]))
    }
}

macro_rules! ct_eq_int {
    ($($t:ty),*) => { $(
        impl CtEq for $t {
            fn ct_eq(&self, other: &Self) -> bool {
                bool::from(ConstantTimeEq::ct_eq(self, other))
            }
        }
    )* };
}
ct_eq_int!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl CtEq for str {
    /// Compares the UTF-8 bytes; as for slices, the length is public.
    fn ct_eq(&self, other: &Self) -> bool {
        CtEq::ct_eq(self.as_bytes(), other.as_bytes())
    }
}

mod sealed {
    pub trait Sealed {}
    impl<T: super::Plain> Sealed for T {}
    impl<T: super::Plain> Sealed for [T] {}
    impl Sealed for str {}
}

/// What a [`Protected`] can hold: a [`Plain`] value `T`, a slice `[T]` of them
/// whose length is chosen at run time, or text, `str`. Sealed.
///
/// A `Protected<str>` holds UTF-8 bytes. Every way in keeps them valid UTF-8: its
/// constructors copy a `String` or validate what they read before the handle is
/// typed `str`; its write scopes hand out `&mut str`, whose safe methods cannot
/// break UTF-8; and the region's other states are all-zero bytes (a fresh or
/// wiped region), which are valid UTF-8 (NUL characters).
pub trait Secret: sealed::Sealed + Send + Sync + 'static {
    /// The element type: `T` itself, or the slice's element.
    #[doc(hidden)]
    type Elem: Plain;

    /// A pointer to `len` elements at `data` (`len` is 1 for a sized `T`).
    #[doc(hidden)]
    fn __from_raw(data: NonNull<u8>, len: usize) -> NonNull<Self>;

    /// The number of elements `ptr` covers (1 for a sized `T`).
    #[doc(hidden)]
    fn __len(ptr: NonNull<Self>) -> usize;
}

impl<T: Plain> Secret for T {
    type Elem = T;

    fn __from_raw(data: NonNull<u8>, _len: usize) -> NonNull<Self> {
        data.cast()
    }

    fn __len(_ptr: NonNull<Self>) -> usize {
        1
    }
}

impl<T: Plain> Secret for [T] {
    type Elem = T;

    fn __from_raw(data: NonNull<u8>, len: usize) -> NonNull<Self> {
        NonNull::slice_from_raw_parts(data.cast(), len)
    }

    fn __len(ptr: NonNull<Self>) -> usize {
        ptr.len()
    }
}

impl Secret for str {
    type Elem = u8;

    fn __from_raw(data: NonNull<u8>, len: usize) -> NonNull<Self> {
        let bytes = NonNull::slice_from_raw_parts(data, len).as_ptr();
        #[allow(
            clippy::as_conversions,
            reason = "`*mut [u8]` to `*mut str` keeps the address and the length; no method \
                      does this cast on stable Rust"
        )]
        let text = bytes as *mut str;
        // SAFETY:
        // - `text` has the address of `data`, which is non-null (`NonNull`); the
        //   cast changes only the pointee type [1].
        // [1] https://doc.rust-lang.org/reference/expressions/operator-expr.html#pointer-to-pointer-cast
        unsafe { NonNull::new_unchecked(text) }
    }

    fn __len(ptr: NonNull<Self>) -> usize {
        // `str` and `[u8]` share their metadata: the length in bytes.
        #[allow(
            clippy::as_conversions,
            reason = "`*mut str` to `*mut [u8]` keeps the address and the length"
        )]
        let bytes = ptr.as_ptr() as *mut [u8];
        bytes.len()
    }
}

/// A secret in a guarded region, in permission state `P`.
///
/// The secret sits in `mlock`ed pages between two guard pages — a region of its
/// own, or a slot of a [`Pool`] arena — is left out of core dumps and `fork`
/// children, and is wiped when the handle drops. In state
/// [`NoAccess`] (the default) nothing can read it; scopes open it briefly:
///
/// - [`read`](Self::read) (`&self`) returns a [`ReadGuard`]; several may be open at
///   once, in one thread or many;
/// - [`write`](Self::write) (`&mut self`) returns a [`WriteGuard`];
/// - [`into_read_only`](Protected::into_read_only),
///   [`into_read_write`](Protected::into_read_write) and [`seal`](Protected::seal)
///   change the state for longer; on failure they hand the handle back.
///
/// # Examples
///
/// ```
/// use siegel::Protected;
///
/// let mut key = Protected::<[u8; 32]>::init_with(|k| k.fill(0x42))?;
/// assert_eq!(key.read()?[0], 0x42);
/// key.write()?[1] = 7;
/// let open = key.into_read_only().map_err(|e| e.into_parts().0)?;
/// assert_eq!(open[1], 7); // a `ReadOnly` handle reads without a scope
/// # Ok::<(), siegel::Error>(())
/// ```
///
/// A read guard cannot write:
///
/// ```compile_fail
/// let key = siegel::Protected::<[u8; 32]>::zeroed().unwrap();
/// key.read().unwrap()[0] = 1;
/// ```
///
/// and a sealed handle cannot be read without a scope:
///
/// ```compile_fail
/// let key = siegel::Protected::<[u8; 32]>::zeroed().unwrap();
/// let _ = key[0];
/// ```
pub struct Protected<T: ?Sized + Secret, P: Permission = NoAccess> {
    region: Backing,
    ptr: NonNull<T>,
    perm: PhantomData<P>,
}

// SAFETY:
// - a `NoAccess` handle holds no thread-specific state: its region is sealed and
//   no PKRU bits are open for it in this thread; `T: Secret` is `Send`.
unsafe impl<T: ?Sized + Secret> Send for Protected<T, NoAccess> {}

// SAFETY:
// - through `&Protected<T, NoAccess>` other threads can only open read scopes,
//   which count their access in their own PKRU (protection keys) or under the
//   region's lock (page protection); `T: Secret` is `Sync`.
unsafe impl<T: ?Sized + Secret> Sync for Protected<T, NoAccess> {}

impl<T: Plain> Protected<T> {
    /// A new region holding an all-zero `T`, with [`Options::default`].
    ///
    /// # Errors
    ///
    /// See [`Options::zeroed`].
    pub fn zeroed() -> Result<Self, Error> {
        Options::default().zeroed()
    }

    /// A new region whose `T` is initialised in place by `init` (it starts
    /// zeroed), so the secret need not pass through the stack.
    ///
    /// # Errors
    ///
    /// See [`Options::zeroed`].
    pub fn init_with(init: impl FnOnce(&mut T)) -> Result<Self, Error> {
        Options::default().init_with(init)
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
    /// # Errors
    ///
    /// See [`Options::zeroed`], converted into `E`, or what `init` returned.
    pub fn try_init_with<E: From<Error>>(
        init: impl FnOnce(&mut T) -> Result<(), E>,
    ) -> Result<Self, E> {
        Options::default().try_init_with(init)
    }

    /// Moves `*source` into a new region and wipes `source` with volatile zeros.
    ///
    /// # Errors
    ///
    /// See [`Options::zeroed`]; `source` is left untouched on error.
    pub fn take(source: &mut T) -> Result<Self, Error> {
        Options::default().take(source)
    }
}

impl<T: Plain> Protected<[T]> {
    /// A new region holding `len` zeroed elements, with [`Options::default`].
    ///
    /// # Errors
    ///
    /// See [`Options::zeroed`].
    pub fn zeroed_slice(len: usize) -> Result<Self, Error> {
        Options::default().zeroed_slice(len)
    }

    /// A new region of `len` elements initialised in place by `init`.
    ///
    /// # Errors
    ///
    /// See [`Options::zeroed`].
    pub fn init_slice_with(len: usize, init: impl FnOnce(&mut [T])) -> Result<Self, Error> {
        Options::default().init_slice_with(len, init)
    }

    /// Copies `source` into a new region and wipes `source` with volatile zeros.
    ///
    /// # Errors
    ///
    /// See [`Options::zeroed`]; `source` is left untouched on error.
    pub fn take_slice(source: &mut [T]) -> Result<Self, Error> {
        Options::default().take_slice(source)
    }
}

impl Options {
    /// A new region holding an all-zero `T`.
    ///
    /// # Errors
    ///
    /// [`Error::MemoryLock`] (over `RLIMIT_MEMLOCK`), [`Error::Map`] (address space
    /// or `vm.max_map_count`), [`Error::PkuUnavailable`] (PKU forced where it does
    /// not exist), [`Error::KeysExhausted`], [`Error::InvalidBackend`],
    /// [`Error::Protect`], [`Error::Random`], [`Error::AlignmentTooLarge`].
    pub fn zeroed<T: Plain>(&self) -> Result<Protected<T>, Error> {
        Protected::alloc(*self, 1)
    }

    /// A new region whose `T` is initialised in place by `init`.
    ///
    /// # Errors
    ///
    /// As [`zeroed`](Self::zeroed).
    pub fn init_with<T: Plain>(&self, init: impl FnOnce(&mut T)) -> Result<Protected<T>, Error> {
        self.zeroed()?.initialised(init)
    }

    /// A new region whose `T` is initialised in place by `init`, which may fail
    /// (the region is then wiped and unmapped).
    ///
    /// # Errors
    ///
    /// As [`zeroed`](Self::zeroed), converted into `E`, or what `init` returned.
    pub fn try_init_with<T: Plain, E: From<Error>>(
        &self,
        init: impl FnOnce(&mut T) -> Result<(), E>,
    ) -> Result<Protected<T>, E> {
        self.zeroed()?.try_initialised(init)
    }

    /// Moves `*source` into a new region and wipes `source`.
    ///
    /// # Errors
    ///
    /// As [`zeroed`](Self::zeroed); `source` is left untouched on error.
    pub fn take<T: Plain>(&self, source: &mut T) -> Result<Protected<T>, Error> {
        let mut handle = self.zeroed::<T>()?;
        handle.with_write(|dest| {
            copy_and_wipe(core::slice::from_mut(source), core::slice::from_mut(dest));
        })?;
        Ok(handle)
    }

    /// A new region holding `len` zeroed elements.
    ///
    /// # Errors
    ///
    /// As [`zeroed`](Self::zeroed), and [`Error::TooLarge`].
    pub fn zeroed_slice<T: Plain>(&self, len: usize) -> Result<Protected<[T]>, Error> {
        Protected::alloc(*self, len)
    }

    /// A new region of `len` elements initialised in place by `init`.
    ///
    /// # Errors
    ///
    /// As [`zeroed_slice`](Self::zeroed_slice).
    pub fn init_slice_with<T: Plain>(
        &self,
        len: usize,
        init: impl FnOnce(&mut [T]),
    ) -> Result<Protected<[T]>, Error> {
        self.zeroed_slice(len)?.initialised(init)
    }

    /// Copies `source` into a new region and wipes `source`.
    ///
    /// # Errors
    ///
    /// As [`zeroed_slice`](Self::zeroed_slice); `source` is left untouched on error.
    pub fn take_slice<T: Plain>(&self, source: &mut [T]) -> Result<Protected<[T]>, Error> {
        let mut handle = self.zeroed_slice(source.len())?;
        handle.with_write(|dest| copy_and_wipe(source, dest))?;
        Ok(handle)
    }
}

impl Pool {
    /// A pooled secret holding an all-zero `T` (a dedicated region if `T` is
    /// larger than the largest slot, 2032 bytes).
    ///
    /// # Errors
    ///
    /// [`Error::PoolExhausted`], or any error of [`Options::zeroed`] when the
    /// pool maps a new arena.
    pub fn zeroed<T: Plain>(&self) -> Result<Protected<T>, Error> {
        Protected::alloc_pooled(self, 1)
    }

    /// A pooled secret whose `T` is initialised in place by `init`.
    ///
    /// # Errors
    ///
    /// As [`zeroed`](Self::zeroed).
    pub fn init_with<T: Plain>(&self, init: impl FnOnce(&mut T)) -> Result<Protected<T>, Error> {
        self.zeroed()?.initialised(init)
    }

    /// A pooled secret whose `T` is initialised in place by `init`, which may
    /// fail (the slot is then wiped and freed).
    ///
    /// # Errors
    ///
    /// As [`zeroed`](Self::zeroed), converted into `E`, or what `init` returned.
    pub fn try_init_with<T: Plain, E: From<Error>>(
        &self,
        init: impl FnOnce(&mut T) -> Result<(), E>,
    ) -> Result<Protected<T>, E> {
        self.zeroed()?.try_initialised(init)
    }

    /// A pooled secret of `len` zeroed elements.
    ///
    /// # Errors
    ///
    /// As [`zeroed`](Self::zeroed), and [`Error::TooLarge`].
    pub fn zeroed_slice<T: Plain>(&self, len: usize) -> Result<Protected<[T]>, Error> {
        Protected::alloc_pooled(self, len)
    }

    /// A pooled secret of `len` elements initialised in place by `init`.
    ///
    /// # Errors
    ///
    /// As [`zeroed_slice`](Self::zeroed_slice).
    pub fn init_slice_with<T: Plain>(
        &self,
        len: usize,
        init: impl FnOnce(&mut [T]),
    ) -> Result<Protected<[T]>, Error> {
        self.zeroed_slice(len)?.initialised(init)
    }
}

/// Where a constructor puts a new secret: a dedicated region made with these
/// options, or a slot of this pool. Loaders that grow a secret keep allocating
/// in the same place.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Home<'a> {
    Dedicated(Options),
    Pooled(&'a Pool),
}

impl Home<'_> {
    pub(crate) fn zeroed<T: Plain>(self) -> Result<Protected<T>, Error> {
        match self {
            Self::Dedicated(options) => Protected::alloc(options, 1),
            Self::Pooled(pool) => Protected::alloc_pooled(pool, 1),
        }
    }

    pub(crate) fn zeroed_slice<T: Plain>(self, len: usize) -> Result<Protected<[T]>, Error> {
        match self {
            Self::Dedicated(options) => Protected::alloc(options, len),
            Self::Pooled(pool) => Protected::alloc_pooled(pool, len),
        }
    }
}

impl Protected<[u8]> {
    /// A new secret of `len` bytes in `home` holding the first `min(len, old
    /// length)` bytes of this one, copied with both open. The caller then drops
    /// this one, which wipes and unmaps it. Used to grow a secret whose length
    /// is not known in advance and to trim it to its final length.
    pub(crate) fn resized(&self, home: Home<'_>, len: usize) -> Result<Self, Error> {
        let mut fresh = home.zeroed_slice::<u8>(len)?;
        {
            let old = self.read()?;
            let mut new = fresh.write()?;
            let kept = len.min(old.len());
            new[..kept].copy_from_slice(&old[..kept]);
        }
        Ok(fresh)
    }

    /// Retypes a secret holding valid UTF-8 as text.
    ///
    /// # Safety
    ///
    /// The bytes must be valid UTF-8 (checked by the caller in a scope of this
    /// handle; no write scope may have been opened since).
    pub(crate) unsafe fn into_str_unchecked(self) -> Protected<str> {
        let len = self.ptr.len();
        let ptr = <str as Secret>::__from_raw(self.region.data(), len);
        Protected { region: self.region, ptr, perm: PhantomData }
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

impl<T: ?Sized + Secret> Protected<T> {
    fn size_of(len: usize) -> Result<usize, Error> {
        core::mem::size_of::<T::Elem>()
            .checked_mul(len)
            .filter(|&size| isize::try_from(size).is_ok())
            .ok_or(Error::TooLarge { len })
    }

    /// Runs `init` on the (zeroed) secret in a write scope, for the `init_with`
    /// constructors.
    fn initialised(mut self, init: impl FnOnce(&mut T)) -> Result<Self, Error> {
        self.with_write(init)?;
        Ok(self)
    }

    /// As [`initialised`](Self::initialised), for an `init` that may fail (the
    /// handle, dropped, wipes the region or frees the slot).
    fn try_initialised<E: From<Error>>(
        mut self,
        init: impl FnOnce(&mut T) -> Result<(), E>,
    ) -> Result<Self, E> {
        self.with_write(init)??;
        Ok(self)
    }

    fn alloc_pooled(pool: &Pool, len: usize) -> Result<Self, Error> {
        Self::alloc_in(pool.options(), len, Some(pool))
    }

    fn alloc(options: Options, len: usize) -> Result<Self, Error> {
        Self::alloc_in(options, len, None)
    }

    fn alloc_in(options: Options, len: usize, pool: Option<&Pool>) -> Result<Self, Error> {
        let size = Self::size_of(len)?;
        let align = core::mem::align_of::<T::Elem>();
        let region = Backing::new(size, align, options, pool.map(Pool::inner))?;
        let ptr = T::__from_raw(region.data(), len);
        Ok(Self { region, ptr, perm: PhantomData })
    }

    /// Moves the secret to a fresh region — new address, new canary, and under
    /// PKU possibly a new key — then wipes and unmaps the old one. Rotate
    /// long-lived secrets now and then, so a leaked address goes stale.
    ///
    /// # Errors
    ///
    /// Any error of [`Options::zeroed`] or of opening either region, with the
    /// handle back, unchanged: nothing is lost if the new mapping cannot be made.
    pub fn rotate(self) -> Result<Self, TransitionError<Self>> {
        let region = match self.region.relocate(core::mem::align_of::<T::Elem>()) {
            Ok(region) => region,
            Err(error) => return Err(TransitionError::new(error, self)),
        };
        let ptr = T::__from_raw(region.data(), T::__len(self.ptr));
        Ok(Self { region, ptr, perm: PhantomData })
    }

    /// Opens the region for reading for as long as the handle lives.
    ///
    /// # Errors
    ///
    /// [`Error::Protect`], [`Error::CanaryCorrupted`] or [`Error::Poisoned`], with
    /// the handle, unchanged.
    pub fn into_read_only(self) -> Result<Protected<T, ReadOnly>, TransitionError<Self>> {
        self.transition()
    }

    /// Opens the region for reading and writing for as long as the handle lives.
    ///
    /// # Errors
    ///
    /// As [`into_read_only`](Self::into_read_only).
    pub fn into_read_write(self) -> Result<Protected<T, ReadWrite>, TransitionError<Self>> {
        self.transition()
    }
}

impl<T: ?Sized + Secret> Protected<T, ReadOnly> {
    /// Seals the region again.
    ///
    /// # Errors
    ///
    /// [`Error::Protect`] if `mprotect` failed, with the handle, still open.
    pub fn seal(self) -> Result<Protected<T>, TransitionError<Self>> {
        self.transition()
    }

    /// Opens the region for writing too.
    ///
    /// # Errors
    ///
    /// [`Error::Protect`], [`Error::Poisoned`], with the handle unchanged.
    pub fn into_read_write(self) -> Result<Protected<T, ReadWrite>, TransitionError<Self>> {
        self.transition()
    }
}

impl<T: ?Sized + Secret> Protected<T, ReadWrite> {
    /// Seals the region again.
    ///
    /// # Errors
    ///
    /// [`Error::Protect`] if `mprotect` failed, with the handle, still open.
    pub fn seal(self) -> Result<Protected<T>, TransitionError<Self>> {
        self.transition()
    }

    /// Takes write access away, keeping read access.
    ///
    /// # Errors
    ///
    /// [`Error::Protect`], [`Error::Poisoned`], with the handle unchanged.
    pub fn into_read_only(self) -> Result<Protected<T, ReadOnly>, TransitionError<Self>> {
        self.transition()
    }
}

impl<T: ?Sized + Secret, P: Permission> Protected<T, P> {
    fn transition<Q: Permission>(mut self) -> Result<Protected<T, Q>, TransitionError<Self>> {
        match self.region.change_held(Q::HELD) {
            Ok(()) => Ok(Protected { region: self.region, ptr: self.ptr, perm: PhantomData }),
            Err(error) => Err(TransitionError::new(error, self)),
        }
    }

    /// Opens a read scope: the region is readable until the guard drops. Nested
    /// scopes, and scopes on a handle that is already open, make no system call.
    ///
    /// Under protection keys only this thread gains access; under page protection
    /// (`mprotect`) the pages become readable to every thread while any scope is
    /// open.
    ///
    /// # Errors
    ///
    /// [`Error::Protect`] (`mprotect` failed), [`Error::CanaryCorrupted`] (an
    /// underflow overwrote the canary), [`Error::Poisoned`].
    pub fn read(&self) -> Result<ReadGuard<'_, T>, Error> {
        self.region.open(Access::Read)?;
        Ok(ReadGuard { region: &self.region, ptr: self.ptr, marker: PhantomData })
    }

    /// Runs `f` inside a read scope.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn with_read<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, Error> {
        Ok(f(&*self.read()?))
    }

    /// Reads a one-time secret: runs `f` in a read scope, then wipes and unmaps
    /// the secret (or frees its pool slot) — on return and on a panic in `f`
    /// alike. The handle is consumed, so a second read does not compile.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::Protected;
    ///
    /// let token = Protected::<[u8; 16]>::random()?;
    /// let first = token.read_once(|t| t[0]).map_err(siegel::Error::from)?;
    /// # let _ = first;
    /// // token.read()?; // does not compile: `token` was moved
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// ```compile_fail,E0382
    /// let token = siegel::Protected::<[u8; 16]>::zeroed().unwrap();
    /// token.read_once(|t| t[0]).unwrap();
    /// token.read_once(|t| t[0]).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), with the handle back, unchanged, so that a
    /// failed open (say, all protection keys busy) loses nothing; `f` did not run.
    pub fn read_once<R>(self, f: impl FnOnce(&T) -> R) -> Result<R, TransitionError<Self>> {
        if let Err(error) = self.region.open(Access::Read) {
            return Err(TransitionError::new(error, self));
        }
        let guard = ReadGuard { region: &self.region, ptr: self.ptr, marker: PhantomData };
        // `f` may panic: the guard re-seals during unwinding, then `self`, a
        // local of this frame, drops and wipes.
        let result = f(&guard);
        drop(guard);
        drop(self);
        Ok(result)
    }

    /// The mechanism protecting this region.
    #[must_use]
    pub fn mechanism(&self) -> Mechanism {
        self.region.mechanism()
    }

    /// Whether the secret shares a pool arena with others (see [`Pool`]).
    #[must_use]
    pub fn is_pooled(&self) -> bool {
        self.region.is_pooled()
    }

    /// Whether the region's pages are `mlock`ed (always, unless
    /// [`MlockPolicy::BestEffort`](crate::MlockPolicy::BestEffort) let a failure pass).
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.region.is_locked()
    }

    /// Compares the secret with `candidate` in constant time (the time taken does
    /// not depend on where they differ), inside a read scope.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn ct_eq(&self, candidate: &T) -> Result<bool, Error>
    where
        T: CtEq,
    {
        Ok(self.read()?.ct_eq(candidate))
    }

    /// The memory backing the region (see [`MemoryPolicy`](crate::MemoryPolicy)).
    #[must_use]
    pub fn memory(&self) -> Memory {
        self.region.memory()
    }

    /// Whether the region was wiped (by a failed re-seal or [`lockdown`]) and
    /// can no longer be opened.
    ///
    /// [`lockdown`]: crate::lockdown
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        self.region.is_poisoned()
    }

    /// Addresses of the region, for diagnostics (the secret is not included).
    #[must_use]
    pub fn info(&self) -> RegionInfo {
        let [(map, map_len), (pages, pages_len), (data, data_len)] = self.region.ranges();
        RegionInfo {
            mapping: map..map + map_len,
            data_pages: pages..pages + pages_len,
            secret: data..data + data_len,
            mechanism: self.mechanism(),
            memory: self.memory(),
        }
    }
}

impl<T: ?Sized + Secret, P: WriteScope> Protected<T, P> {
    /// Opens a write scope: the region is readable and writable until the guard
    /// drops. Needs `&mut self`, so no read scope of this handle can be open.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn write(&mut self) -> Result<WriteGuard<'_, T>, Error> {
        self.region.open(Access::Write)?;
        Ok(WriteGuard { region: &self.region, ptr: self.ptr, marker: PhantomData })
    }

    /// Runs `f` inside a write scope.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn with_write<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        Ok(f(&mut *self.write()?))
    }
}

impl<T: ?Sized + Secret, P: Readable> Deref for Protected<T, P> {
    type Target = T;

    /// # Panics
    ///
    /// If the secret was wiped since the handle opened ([`lockdown`], a failed
    /// re-seal): no secret is handed out after that.
    ///
    /// [`lockdown`]: crate::lockdown
    fn deref(&self) -> &T {
        self.region.assert_live();
        #[cfg(miri)]
        crate::sys::assert_accessible(self.region.data(), self.region.data_len(), false);
        // SAFETY:
        // - `P: Readable` means the handle holds read access open in this thread
        //   (the handle is `!Send`), so the pages are readable (region invariant);
        // - `ptr` is in bounds, aligned and points to a valid `T` (zero-filled or
        //   written through `&mut T`, and `Plain` makes all-zero valid);
        // - no `&mut T` exists while `&self` is borrowed.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ?Sized + Secret, P: Writable> DerefMut for Protected<T, P> {
    fn deref_mut(&mut self) -> &mut T {
        self.region.assert_live();
        #[cfg(miri)]
        crate::sys::assert_accessible(self.region.data(), self.region.data_len(), true);
        // SAFETY:
        // - `P: Writable` means the handle holds write access open in this thread;
        //   `&mut self` makes the borrow exclusive; validity as in `deref`.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: Plain, P: Permission> Protected<[T], P> {
    /// The number of elements. The length of a secret is not secret: it needs
    /// no scope.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ptr.len()
    }

    /// Whether the secret has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<P: Permission> Protected<str, P> {
    /// The length in bytes. The length of a secret is not secret: it needs no
    /// scope.
    #[must_use]
    pub fn len(&self) -> usize {
        <str as Secret>::__len(self.ptr)
    }

    /// Whether the text is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: ?Sized + Secret, P: Permission> fmt::Debug for Protected<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Protected<{}, {}>([REDACTED])", core::any::type_name::<T>(), P::NAME)
    }
}

/// Where a region lives: address ranges for diagnostics and tests. Contains no
/// secret (but does reveal addresses, which defeats ASLR for these pages).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegionInfo {
    /// The whole mapping, guard pages included.
    pub mapping: Range<usize>,
    /// The `mlock`ed data pages (canary and secret).
    pub data_pages: Range<usize>,
    /// The secret itself; it ends where the trailing guard page begins.
    pub secret: Range<usize>,
    /// The mechanism protecting the pages.
    pub mechanism: Mechanism,
    /// The memory backing the data pages.
    pub memory: Memory,
}

/// A read scope: derefs to `&T`; re-seals the region when dropped.
///
/// `!Send`: under protection keys the access belongs to this thread. If re-sealing
/// fails when it drops (it cannot in practice: see the crate docs), the secret is
/// wiped and the handle poisoned rather than left readable.
///
/// `let _ = handle.read()?;` drops the guard at once; bind it to a name.
#[must_use = "the scope closes when the guard is dropped; `let _ = ...` closes it at once"]
pub struct ReadGuard<'a, T: ?Sized + Secret> {
    region: &'a Backing,
    ptr: NonNull<T>,
    marker: PhantomData<(&'a T, *const ())>,
}

impl<T: ?Sized + Secret> Deref for ReadGuard<'_, T> {
    type Target = T;

    /// # Panics
    ///
    /// If a [`lockdown`](crate::lockdown) ran while the guard was open.
    fn deref(&self) -> &T {
        self.region.assert_live();
        #[cfg(miri)]
        crate::sys::assert_accessible(self.region.data(), self.region.data_len(), false);
        // SAFETY:
        // - the guard counts read access open in this thread until it drops, so the
        //   pages are readable (region invariant);
        // - `ptr` is in bounds, aligned and valid (see `Protected::deref`);
        // - the guard borrows the handle shared: no `&mut T` can exist.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ?Sized + Secret + CtEq> ReadGuard<'_, T> {
    /// Compares the secret with `candidate` in constant time.
    pub fn ct_eq(&self, candidate: &T) -> bool {
        CtEq::ct_eq(&**self, candidate)
    }
}

impl<T: ?Sized + Secret> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        self.region.close(Access::Read);
    }
}

impl<T: ?Sized + Secret> fmt::Debug for ReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReadGuard<{}>([REDACTED])", core::any::type_name::<T>())
    }
}

/// A write scope: derefs to `&mut T`; re-seals the region when dropped.
///
/// `!Send`, and its drop policy is that of [`ReadGuard`].
#[must_use = "the scope closes when the guard is dropped; `let _ = ...` closes it at once"]
pub struct WriteGuard<'a, T: ?Sized + Secret> {
    region: &'a Backing,
    ptr: NonNull<T>,
    marker: PhantomData<(&'a mut T, *const ())>,
}

impl<T: ?Sized + Secret> Deref for WriteGuard<'_, T> {
    type Target = T;

    /// # Panics
    ///
    /// If a [`lockdown`](crate::lockdown) ran while the guard was open.
    fn deref(&self) -> &T {
        self.region.assert_live();
        #[cfg(miri)]
        crate::sys::assert_accessible(self.region.data(), self.region.data_len(), false);
        // SAFETY:
        // - the guard counts write access open in this thread until it drops;
        //   validity as in `ReadGuard::deref`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ?Sized + Secret> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.region.assert_live();
        #[cfg(miri)]
        crate::sys::assert_accessible(self.region.data(), self.region.data_len(), true);
        // SAFETY:
        // - write access is open in this thread until the guard drops;
        // - the guard was made from `&mut Protected`, so it is the only path to the
        //   secret, and `&mut self` makes this borrow exclusive.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: ?Sized + Secret + CtEq> WriteGuard<'_, T> {
    /// Compares the secret with `candidate` in constant time.
    pub fn ct_eq(&self, candidate: &T) -> bool {
        CtEq::ct_eq(&**self, candidate)
    }
}

impl<T: ?Sized + Secret> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        self.region.close(Access::Write);
    }
}

impl<T: ?Sized + Secret> fmt::Debug for WriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteGuard<{}>([REDACTED])", core::any::type_name::<T>())
    }
}
