//! Scoped access: [`ReadGuard`] and [`WriteGuard`], and [`checked`], the one
//! check every reference into a secret passes first (a handle's own deref
//! included).

#![allow(unsafe_code)]

use core::{
    fmt,
    marker::PhantomData,
    ops::{Deref, DerefMut},
    ptr::NonNull,
};

use crate::{access::Access, backing::Backing, secret::Secret};

/// `ptr`, once the secret behind `backing` is known to be live — not wiped by a
/// [`lockdown`](crate::registry::lockdown) or a failed re-seal since it was opened — and,
/// under Miri, known to be open for `access` (the shim checks every page). The
/// caller still argues why the pages are open; this is the part every deref
/// shares.
///
/// # Panics
///
/// If the secret was wiped: no secret is handed out after that.
#[inline]
pub(crate) fn checked<T: ?Sized>(backing: &Backing, ptr: NonNull<T>, access: Access) -> NonNull<T> {
    backing.assert_live();
    #[cfg(miri)]
    crate::sys::assert_accessible(backing.data(), backing.data_len(), access == Access::Write);
    #[cfg(not(miri))]
    let _ = access;
    ptr
}

/// What both guards hold: the open region and the secret in it. Closing the
/// scope when it drops is the one thing the two guards do alike, so it lives
/// here; `WRITE` picks the access to close.
struct Scope<'a, T: ?Sized, const WRITE: bool> {
    backing: &'a Backing,
    ptr: NonNull<T>,
}

impl<T: ?Sized, const WRITE: bool> Scope<'_, T, WRITE> {
    const ACCESS: Access = if WRITE { Access::Write } else { Access::Read };

    #[inline]
    fn ptr(&self, access: Access) -> NonNull<T> {
        checked(self.backing, self.ptr, access)
    }
}

impl<T: ?Sized, const WRITE: bool> Drop for Scope<'_, T, WRITE> {
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    fn drop(&mut self) {
        self.backing.close(Self::ACCESS);
    }
}

/// Makes a guard `!Send` and `!Sync`, and names the rule in the compiler's
/// error when a guard is sent to another thread (a `tokio::spawn` across an
/// `.await`, say): under protection keys a scope opens the secret to the
/// thread that opened it only. Open a scope on the thread that reads, after
/// the `.await`.
#[derive(Debug)]
pub(crate) struct ScopeStaysOnItsThread(PhantomData<*const ()>);

/// A read scope: derefs to `&T`; re-seals the region when dropped.
///
/// `!Send`: under protection keys the access belongs to this thread. If re-sealing
/// fails when it drops (it cannot in practice: see the crate docs), the secret is
/// wiped and the handle poisoned rather than left readable.
///
/// `let _ = handle.read()?;` drops the guard at once; bind it to a name.
#[must_use = "the scope closes when the guard is dropped; `let _ = ...` closes it at once"]
pub struct ReadGuard<'a, T: ?Sized + Secret> {
    scope: Scope<'a, T, false>,
    marker: PhantomData<(&'a T, ScopeStaysOnItsThread)>,
}

/// A write scope: derefs to `&mut T`; re-seals the region when dropped.
///
/// `!Send`, and its drop policy is that of [`ReadGuard`].
#[must_use = "the scope closes when the guard is dropped; `let _ = ...` closes it at once"]
pub struct WriteGuard<'a, T: ?Sized + Secret> {
    scope: Scope<'a, T, true>,
    marker: PhantomData<(&'a mut T, ScopeStaysOnItsThread)>,
}

impl<'a, T: ?Sized + Secret> ReadGuard<'a, T> {
    /// A guard over `ptr` in `backing`, whose read access the caller has just
    /// opened; the guard closes it.
    pub(crate) fn new(backing: &'a Backing, ptr: NonNull<T>) -> Self {
        Self { scope: Scope { backing, ptr }, marker: PhantomData }
    }
}

impl<'a, T: ?Sized + Secret> WriteGuard<'a, T> {
    /// A guard over `ptr` in `backing`, whose write access the caller has just
    /// opened through `&mut Protected`; the guard closes it.
    pub(crate) fn new(backing: &'a Backing, ptr: NonNull<T>) -> Self {
        Self { scope: Scope { backing, ptr }, marker: PhantomData }
    }
}

impl<T: ?Sized + Secret> Deref for ReadGuard<'_, T> {
    type Target = T;

    /// # Panics
    ///
    /// If a [`lockdown`](crate::registry::lockdown) ran while the guard was open.
    #[inline]
    fn deref(&self) -> &T {
        let ptr = self.scope.ptr(Access::Read);
        // SAFETY:
        // - the guard counts read access open in this thread until it drops, so the
        //   pages are readable (region invariant);
        // - `ptr` is in bounds, aligned and valid (see `Protected::deref`);
        // - the guard borrows the handle shared: no `&mut T` can exist.
        unsafe { ptr.as_ref() }
    }
}

impl<T: ?Sized + Secret> Deref for WriteGuard<'_, T> {
    type Target = T;

    /// # Panics
    ///
    /// If a [`lockdown`](crate::registry::lockdown) ran while the guard was open.
    #[inline]
    fn deref(&self) -> &T {
        let ptr = self.scope.ptr(Access::Read);
        // SAFETY:
        // - the guard counts write access open in this thread until it drops;
        //   validity as in `ReadGuard::deref`.
        unsafe { ptr.as_ref() }
    }
}

impl<T: ?Sized + Secret> DerefMut for WriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        let mut ptr = self.scope.ptr(Access::Write);
        // SAFETY:
        // - write access is open in this thread until the guard drops;
        // - the guard was made from `&mut Protected`, so it is the only path to the
        //   secret, and `&mut self` makes this borrow exclusive.
        unsafe { ptr.as_mut() }
    }
}

impl<T: ?Sized + Secret> fmt::Debug for ReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReadGuard<{}>([REDACTED])", core::any::type_name::<T>())
    }
}

impl<T: ?Sized + Secret> fmt::Debug for WriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteGuard<{}>([REDACTED])", core::any::type_name::<T>())
    }
}
