//! Locking that ignores poisoning: a panic while holding one of siegel's locks
//! cannot leave the plain data behind it half-written (every critical section
//! writes whole values), so the next holder may go on.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poisoning.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
