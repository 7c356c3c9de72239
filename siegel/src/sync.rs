//! Locking that ignores poisoning and knows when this thread holds a lock.
//!
//! - Poisoning is ignored: a panic while holding one of siegel's locks cannot
//!   leave the plain data behind it half-written (every critical section writes
//!   whole values), so the next holder may go on.
//! - Every lock siegel takes is counted per thread ([`Held`]): a signal handler
//!   that interrupts this thread inside siegel and opens a scope would wait for
//!   a lock its own thread holds, forever. [`enter_siegel`] refuses instead, with
//!   [`Error::Reentrant`].

use core::{
    cell::Cell,
    ops::{Deref, DerefMut},
};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::Error;

thread_local! {
    /// How many of siegel's locks this thread holds. Const-initialised with no
    /// destructor: readable from a signal handler.
    static HELD: Cell<u32> = const { Cell::new(0) };
}

/// Counts one lock held by this thread until dropped.
#[derive(Debug)]
pub(crate) struct Held(());

impl Held {
    /// Counts one more lock held by this thread.
    pub(crate) fn count() -> Self {
        let _ = HELD.try_with(|held| held.set(held.get() + 1));
        Self(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = HELD.try_with(|held| held.set(held.get().saturating_sub(1)));
    }
}

/// Counts a lock that is not a [`Mutex`] (a registry entry's maintenance lock)
/// as held by this thread, until [`unhold`].
pub(crate) fn hold() {
    core::mem::forget(Held::count());
}

/// Whether this thread holds one of siegel's locks (or its maintenance lock)
/// right now: inside siegel already (the fast path's test, no [`Error`] built).
#[inline]
pub(crate) fn holding() -> bool {
    HELD.try_with(Cell::get).unwrap_or(0) != 0
}

/// Ends a [`hold`].
pub(crate) fn unhold() {
    drop(Held(()));
}

/// A locked mutex, counted in this thread's [`Held`] locks.
#[derive(Debug)]
pub(crate) struct Locked<'a, T> {
    guard: MutexGuard<'a, T>,
    _held: Held,
}

impl<T> Deref for Locked<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

thread_local! {
    /// The locks [`hold_for_fork`] took, released on both sides of the `fork`.
    static FORK_HELD: core::cell::RefCell<Vec<Box<dyn core::any::Any>>> =
        const { core::cell::RefCell::new(Vec::new()) };
}

/// In a `pthread_atfork` prepare handler: takes `mutex` and keeps it locked
/// through the `fork`, so the child never inherits it locked by a thread it
/// does not have. [`release_after_fork`] unlocks it on each side.
pub(crate) fn hold_for_fork<T: 'static>(mutex: &'static Mutex<T>) {
    let locked = lock(mutex);
    let _ = FORK_HELD.try_with(|held| held.borrow_mut().push(Box::new(locked)));
}

/// In the parent and child handlers: releases what [`hold_for_fork`] took,
/// newest first.
pub(crate) fn release_after_fork() {
    let _ = FORK_HELD.try_with(|held| {
        let mut held = held.borrow_mut();
        while held.pop().is_some() {}
    });
}

/// Locks `mutex`, ignoring poisoning.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> Locked<'_, T> {
    let held = Held::count();
    Locked { guard: mutex.lock().unwrap_or_else(PoisonError::into_inner), _held: held }
}

/// Refuses to go on if this thread is inside siegel already, holding a lock: a
/// signal handler interrupted it there (siegel runs no user code while holding
/// a lock), and waiting for that lock would never end.
///
/// # Errors
///
/// [`Error::Reentrant`].
#[inline]
pub(crate) fn enter_siegel() -> Result<(), Error> {
    #[cold]
    fn reentrant() -> Error {
        Error::Reentrant
    }
    if holding() {
        Err(reentrant())
    } else {
        Ok(())
    }
}
