//! The handle: [`Protected`] — its allocation, transitions, scopes (through the
//! guards of [`crate::guard`]), diagnostics and [`RegionInfo`]. Its constructors
//! are in [`crate::new`], [`crate::random`] and [`crate::load`]; each takes the
//! [`Place`](crate::Place) the secret goes to.

#![allow(unsafe_code)]

use core::{
    fmt,
    marker::PhantomData,
    ops::{Deref, DerefMut, Range},
    ptr::NonNull,
};

use crate::{
    access::Access,
    backing::Backing,
    error::{Error, TransitionError},
    guard::{checked, ReadGuard, WriteGuard},
    options::{Mechanism, Memory},
    perm::{NoAccess, Permission, ReadOnly, ReadWrite, Readable, Writable, WriteScope},
    place::Home,
    secret::{Plain, Secret},
};

/// A secret in a guarded region, in permission state `P`.
///
/// The secret sits in `mlock`ed pages between two guard pages — a region of its
/// own, or a slot of a [`Pool`](crate::Pool) arena — is left out of core dumps and `fork`
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
/// use siegel::{Dedicated, Protected};
///
/// let mut key = Protected::<[u8; 32]>::init_with_in(Dedicated, |k| k.fill(0x42))?;
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
/// let key = siegel::Protected::<[u8; 32]>::zeroed_in(siegel::Dedicated).unwrap();
/// key.read().unwrap()[0] = 1;
/// ```
///
/// and a sealed handle cannot be read without a scope:
///
/// ```compile_fail
/// let key = siegel::Protected::<[u8; 32]>::zeroed_in(siegel::Dedicated).unwrap();
/// let _ = key[0];
/// ```
pub struct Protected<T: ?Sized + Secret, P: Permission = NoAccess> {
    backing: Backing,
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

impl Home<'_> {
    /// A new all-zero `T` here.
    pub(crate) fn zeroed<T: Plain>(self) -> Result<Protected<T>, Error> {
        Protected::alloc(self, 1)
    }

    /// A new secret of `len` zeroed elements here.
    pub(crate) fn zeroed_slice<T: Plain>(self, len: usize) -> Result<Protected<[T]>, Error> {
        Protected::alloc(self, len)
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
        let ptr = <str as Secret>::__from_raw(self.backing.data(), len);
        Protected { backing: self.backing, ptr, perm: PhantomData }
    }
}

impl<T: ?Sized + Secret> Protected<T> {
    fn size_of(len: usize) -> Result<usize, Error> {
        core::mem::size_of::<T::Elem>()
            .checked_mul(len)
            .filter(|&size| isize::try_from(size).is_ok())
            .ok_or(Error::TooLarge { len })
    }

    /// A new zeroed secret of `len` elements (1 for a sized `T`) in `home`.
    pub(crate) fn alloc(home: Home<'_>, len: usize) -> Result<Self, Error> {
        let size = Self::size_of(len)?;
        let align = core::mem::align_of::<T::Elem>();
        let (options, pool) = match home {
            Home::Dedicated(options) => (options, None),
            Home::Pooled(pool) => (pool.options(), Some(pool.inner())),
        };
        let backing = Backing::new(size, align, options, pool)?;
        let ptr = T::__from_raw(backing.data(), len);
        Ok(Self { backing, ptr, perm: PhantomData })
    }

    /// Moves the secret to a fresh region — new address, new canary, and under
    /// PKU possibly a new key — then wipes and unmaps the old one. Rotate
    /// long-lived secrets now and then, so a leaked address goes stale.
    ///
    /// # Errors
    ///
    /// Any error of [`zeroed_in`](Protected::zeroed_in) or of opening either region, with the
    /// handle back, unchanged: nothing is lost if the new mapping cannot be made.
    pub fn rotate(self) -> Result<Self, TransitionError<Self>> {
        let backing = match self.backing.relocate(core::mem::align_of::<T::Elem>()) {
            Ok(backing) => backing,
            Err(error) => return Err(TransitionError::new(error, self)),
        };
        let ptr = T::__from_raw(backing.data(), T::__len(self.ptr));
        Ok(Self { backing, ptr, perm: PhantomData })
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
        match self.backing.change_held(Q::HELD) {
            Ok(()) => Ok(Protected { backing: self.backing, ptr: self.ptr, perm: PhantomData }),
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
        self.backing.open(Access::Read)?;
        Ok(ReadGuard::new(&self.backing, self.ptr))
    }

    /// Runs `f`, which can fail, inside a read scope: one `?` handles both a
    /// failed open and `f`'s own error. `f`'s error type `E` takes a
    /// [`siegel::Error`](Error) (`E: From<siegel::Error>`): `siegel::Error`
    /// itself, `Box<dyn std::error::Error>`, `anyhow::Error`, or an error enum of
    /// yours. For a plain value use the guard: `key.read()?[0]`,
    /// `f(&key.read()?)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Protected};
    ///
    /// let key = Protected::<[u8; 4]>::from_hex_in(Dedicated, "00ff10aa")?;
    /// let word: u32 = key.with_read(|k| Ok::<_, siegel::Error>(u32::from_be_bytes(*k)))?;
    /// assert_eq!(word, 0x00ff_10aa);
    /// let parsed = key.with_read(|k| -> Result<u8, Box<dyn std::error::Error>> {
    ///     Ok(std::str::from_utf8(&k[..1])?.len().try_into()?) // foreign errors, one `?`
    /// })?;
    /// assert_eq!(parsed, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), converted into `E`, or what `f` returned.
    pub fn with_read<R, E: From<Error>>(&self, f: impl FnOnce(&T) -> Result<R, E>) -> Result<R, E> {
        f(&*self.read()?)
    }

    /// Reads a one-time secret: runs `f` in a read scope, then wipes and unmaps
    /// the secret (or frees its pool slot) — on return and on a panic in `f`
    /// alike. The handle is consumed, so a second read does not compile.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Protected};
    ///
    /// let token = Protected::<[u8; 16]>::random_in(Dedicated)?;
    /// let first = token.read_once(|t| t[0])?; // `TransitionError` converts to `siegel::Error`
    /// println!("the token started with {first:#04x}; it is wiped now");
    /// // token.read()?; // does not compile: `token` was moved
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// ```compile_fail,E0382
    /// let token = siegel::Protected::<[u8; 16]>::zeroed_in(siegel::Dedicated).unwrap();
    /// token.read_once(|t| t[0]).unwrap();
    /// token.read_once(|t| t[0]).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), with the handle back, unchanged, so that a
    /// failed open (say, all protection keys busy) loses nothing; `f` did not run.
    pub fn read_once<R>(self, f: impl FnOnce(&T) -> R) -> Result<R, TransitionError<Self>> {
        if let Err(error) = self.backing.open(Access::Read) {
            return Err(TransitionError::new(error, self));
        }
        let guard = ReadGuard::new(&self.backing, self.ptr);
        // `f` may panic: the guard re-seals during unwinding, then `self`, a
        // local of this frame, drops and wipes.
        let result = f(&guard);
        drop(guard);
        drop(self);
        Ok(result)
    }

    /// Where and how the secret is kept, for diagnostics: the mechanism
    /// protecting it, the memory backing it, whether it is pooled, `mlock`ed or
    /// poisoned, and its address ranges (the secret itself is not included).
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Memory, Protected};
    ///
    /// let key = Protected::<[u8; 32]>::zeroed_in(Dedicated)?;
    /// let info = key.info();
    /// println!("protected by {}", info.mechanism);
    /// assert!(!info.pooled && info.locked && !info.poisoned);
    /// assert_eq!(info.memory, Memory::Anonymous);
    /// assert_eq!(info.secret.len(), 32);
    /// # Ok::<(), siegel::Error>(())
    /// ```
    #[must_use]
    pub fn info(&self) -> RegionInfo {
        let [(map, map_len), (pages, pages_len), (data, data_len)] = self.backing.ranges();
        RegionInfo {
            mapping: map..map + map_len,
            data_pages: pages..pages + pages_len,
            secret: data..data + data_len,
            mechanism: self.backing.mechanism(),
            memory: self.backing.memory(),
            pooled: self.backing.is_pooled(),
            locked: self.backing.is_locked(),
            poisoned: self.backing.is_poisoned(),
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
        self.backing.open(Access::Write)?;
        Ok(WriteGuard::new(&self.backing, self.ptr))
    }

    /// Runs `f`, which can fail, inside a write scope: one `?` handles both a
    /// failed open and `f`'s error, as for [`with_read`](Self::with_read). For
    /// a plain write use the guard: `key.write()?[0] = 1`.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Load, Protected};
    ///
    /// let mut key = Protected::<[u8; 32]>::zeroed_in(Dedicated)?;
    /// key.with_write(siegel::fill_random)?; // a siegel::Error: it infers
    /// key.with_write(|k| k.load_hex("ab".repeat(32)))?;
    /// assert_eq!(key.read()?[31], 0xab);
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), converted into `E`, or what `f` returned.
    pub fn with_write<R, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&mut T) -> Result<R, E>,
    ) -> Result<R, E> {
        f(&mut *self.write()?)
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
    #[inline]
    fn deref(&self) -> &T {
        let ptr = checked(&self.backing, self.ptr, Access::Read);
        // SAFETY:
        // - `P: Readable` means the handle holds read access open in this thread
        //   (the handle is `!Send`), so the pages are readable (region invariant);
        // - `ptr` is in bounds, aligned and points to a valid `T` (zero-filled or
        //   written through `&mut T`, and `Plain` makes all-zero valid);
        // - no `&mut T` exists while `&self` is borrowed.
        unsafe { ptr.as_ref() }
    }
}

impl<T: ?Sized + Secret, P: Writable> DerefMut for Protected<T, P> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        let mut ptr = checked(&self.backing, self.ptr, Access::Write);
        // SAFETY:
        // - `P: Writable` means the handle holds write access open in this thread;
        //   `&mut self` makes the borrow exclusive; validity as in `deref`.
        unsafe { ptr.as_mut() }
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

/// Where and how a secret is kept ([`Protected::info`]): mechanism, memory,
/// pooling, `mlock` and poison state, address ranges — for diagnostics and
/// tests. A snapshot: it does not follow later changes. Contains no secret (but
/// does reveal addresses, which defeats ASLR for these pages).
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
    /// The memory backing the data pages (see
    /// [`MemoryPolicy`](crate::MemoryPolicy)).
    pub memory: Memory,
    /// Whether the secret shares a pool arena with others (see
    /// [`Pool`](crate::Pool)).
    pub pooled: bool,
    /// Whether the data pages are `mlock`ed: always, unless
    /// [`MlockPolicy::BestEffort`](crate::MlockPolicy::BestEffort) let a
    /// failure pass.
    pub locked: bool,
    /// Whether the secret was wiped (by a failed re-seal or
    /// [`lockdown`](crate::lockdown)) and can no longer be opened.
    pub poisoned: bool,
}
