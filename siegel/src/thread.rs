//! Spawning threads that do not inherit open scopes.
//!
//! Under protection keys a new thread starts with a copy of its creator's PKRU
//! register. A thread spawned while a scope is open therefore starts with access
//! to that region — and keeps it after the scope closes, since the creator's drop
//! only writes its own PKRU. [`spawn`] closes that hole: the new thread seals
//! every siegel key before running `f`. Threads made by other spawners (thread
//! pools, async runtimes) should call [`seal_thread`] first thing
//! (e.g. tokio's `on_thread_start(siegel::thread::seal_thread)`).
//!
//! Under page protection there is nothing to inherit: an open scope is open to
//! every thread of the process anyway.

pub use crate::pkru::{revocation_rounds, revocation_signal, seal_thread};

/// [`std::thread::spawn`], with the new thread's inherited protection-key rights
/// to siegel regions removed before `f` runs.
///
/// # Panics
///
/// As [`std::thread::spawn`]: if the OS cannot create a thread.
pub fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        seal_thread();
        f()
    })
}
