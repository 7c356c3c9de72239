//! Wiping every protected region when the process dies of a fatal signal.
//!
//! [`wipe_on_fatal_signal`] installs one handler for `SIGSEGV`, `SIGBUS`, `SIGILL`,
//! `SIGFPE` and `SIGABRT`. When one arrives it wipes every live region (volatile
//! zeros; under PKU it first grants itself every key, since a handler starts with
//! the default PKRU; under page protection it makes the pages writable), writes one
//! byte to the notification descriptor if one is set, then hands the signal on: to
//! the handler that was installed before (Rust's own stack-overflow handler, a
//! crash reporter), or, if there was none, back to the default action, so the
//! crash still happens — with a core dump that holds no secret even for regions
//! whose pages were open.
//!
//! The handler is async-signal-safe: it walks the lock-free region registry, calls
//! only `mprotect`, `write`, `sigaction` and `raise`, and allocates nothing. After
//! it ran, wiped pages stay open (they hold zeros) and, under PKU, the thread keeps
//! every key open while the chained handler runs.
//!
//! # Examples
//!
//! ```no_run
//! siegel::crash::wipe_on_fatal_signal()?;
//! let key = siegel::Protected::<[u8; 32]>::init_with(|k| k.fill(1))?;
//! // ... if anything now crashes the process, `key` is zeroed before it dies.
//! # Ok::<(), siegel::Error>(())
//! ```

#![allow(unsafe_code)]

use core::sync::atomic::{AtomicI32, AtomicPtr, Ordering};
use std::{
    os::fd::RawFd,
    sync::{Mutex, PoisonError},
};

use libc::{c_int, c_void, siginfo_t};

use crate::{region, sys, Error};

/// The signals after which a process cannot sensibly go on.
pub const FATAL_SIGNALS: [c_int; 5] =
    [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT];

/// The disposition each of [`FATAL_SIGNALS`] had before ours (leaked boxes).
static PREVIOUS: [AtomicPtr<sys::SigAction>; 5] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; 5];

/// Descriptor to write one byte to after a crash wipe, or -1.
static NOTIFY_FD: AtomicI32 = AtomicI32::new(-1);

/// Serialises installation.
static INSTALL: Mutex<bool> = Mutex::new(false);

/// Installs the wipe-on-fatal-signal handler (see the module docs). Idempotent:
/// later calls do nothing.
///
/// # Errors
///
/// [`Error::Signal`] if `sigaction` fails (it does not for these signals).
pub fn wipe_on_fatal_signal() -> Result<(), Error> {
    let mut installed = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    if *installed {
        return Ok(());
    }
    for (sig, previous) in FATAL_SIGNALS.into_iter().zip(&PREVIOUS) {
        // SAFETY:
        // - `on_fatal_signal` is async-signal-safe (module docs).
        let old = unsafe { sys::sigaction_install(sig, on_fatal_signal) }
            .map_err(|source| Error::Signal { source })?;
        previous.store(Box::into_raw(Box::new(old)), Ordering::Release);
    }
    *installed = true;
    Ok(())
}

/// After a crash wipe, write one byte (`b'W'`) to `fd` — say a pipe to a
/// supervisor. `None` stops notifying. The descriptor must stay open.
pub fn notify_fd(fd: Option<RawFd>) {
    NOTIFY_FD.store(fd.unwrap_or(-1), Ordering::Release);
}

extern "C" fn on_fatal_signal(sig: c_int, info: *mut siginfo_t, context: *mut c_void) {
    region::wipe_all_for_crash();
    let fd = NOTIFY_FD.load(Ordering::Acquire);
    if fd >= 0 {
        sys::write_ignoring_errors(fd, b"W");
    }
    chain(sig, info, context);
}

/// Hands `sig` to the disposition that was installed before ours.
fn chain(sig: c_int, info: *mut siginfo_t, context: *mut c_void) {
    let previous = FATAL_SIGNALS
        .iter()
        .position(|&s| s == sig)
        .and_then(|i| PREVIOUS.get(i))
        .map(|p| p.load(Ordering::Acquire));
    // SAFETY:
    // - non-null pointers in `PREVIOUS` come from `Box::into_raw` and are never
    //   freed.
    let previous = previous.and_then(|p| unsafe { p.as_ref() });
    let handler = previous.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Back to the default action, then re-deliver: the signal is blocked while
        // this handler runs, so it arrives when we return — and a fault would
        // recur anyway when the faulting instruction runs again.
        // SAFETY:
        // - an all-zero `struct sigaction` is SIG_DFL with an empty mask.
        let default: sys::SigAction = unsafe { core::mem::zeroed() };
        // SAFETY:
        // - `default` is a valid disposition; sigaction(2) is async-signal-safe.
        let _ = unsafe { sys::sigaction_restore(sig, &default) };
        sys::raise(sig);
    } else if previous.is_some_and(|p| p.sa_flags & libc::SA_SIGINFO != 0) {
        // SAFETY:
        // - with SA_SIGINFO, `sa_sigaction` holds a `void (*)(int, siginfo_t *, void *)`
        //   installed by its owner [1]; we call it as the kernel would.
        //
        // [1] https://man7.org/linux/man-pages/man2/sigaction.2.html
        let previous = unsafe { core::mem::transmute::<usize, sys::SigInfoHandler>(handler) };
        previous(sig, info, context);
    } else {
        // SAFETY:
        // - without SA_SIGINFO, `sa_sigaction` holds a `void (*)(int)` [1].
        //
        // [1] https://man7.org/linux/man-pages/man2/sigaction.2.html
        let previous = unsafe { core::mem::transmute::<usize, extern "C" fn(c_int)>(handler) };
        previous(sig);
    }
}
