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
//! every key open while the chained handler runs. Every wiped region is
//! **poisoned**: should the process survive after all, each handle answers
//! [`Error::Poisoned`] — never an all-zero "key" that
//! silently works.
//!
//! # Runtimes that recover from their own faults
//!
//! Some runtimes (wasmtime, garbage collectors, JITs) install a `SIGSEGV` or
//! `SIGBUS` handler that *recovers* from faults they caused on purpose. With the
//! default [`Order::WipeFirst`], siegel wipes before such a handler sees the
//! fault, so a recovered fault still costs every secret (they come back
//! poisoned). [`Order::PreviousFirst`] hands `SIGSEGV` and `SIGBUS` to the
//! previous handler first and wipes only when the fault was not recovered: when
//! that handler gave up its disposition (as Rust's own stack-overflow handler
//! does before letting the fault recur), when there was none, or when the same
//! fault comes back at once (same thread, same address). Install siegel's handler
//! *after* the runtime's for either order to apply; a handler installed after
//! siegel's runs first and decides itself whether to chain.
//!
//! # Examples
//!
//! ```no_run
//! siegel::crash::wipe_on_fatal_signal(siegel::crash::Order::WipeFirst)?;
//! let key = siegel::Protected::<[u8; 32]>::init_with_in(siegel::Dedicated, |k| k.fill(1))?;
//! // ... if anything now crashes the process, `key` is zeroed before it dies.
//! # Ok::<(), siegel::Error>(())
//! ```

#![allow(unsafe_code)]

use core::{
    ffi::{c_int, c_void},
    sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering},
};
use std::sync::{Mutex, PoisonError};

use crate::{
    error::Error,
    registry,
    sys::{self, RawFd},
};

/// The signals after which a process cannot sensibly go on.
pub const FATAL_SIGNALS: [c_int; 5] =
    [sys::SIGSEGV, sys::SIGBUS, sys::SIGILL, sys::SIGFPE, sys::SIGABRT];

/// The disposition each of [`FATAL_SIGNALS`] had before ours (leaked boxes).
static PREVIOUS: [AtomicPtr<sys::SigAction>; 5] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; 5];

/// Descriptor to write one byte to after a crash wipe, or -1.
static NOTIFY_FD: AtomicI32 = AtomicI32::new(-1);

/// Serialises installation.
static INSTALL: Mutex<bool> = Mutex::new(false);

/// Whether `SIGSEGV`/`SIGBUS` go to the previous handler first ([`Order`]).
static PREVIOUS_FIRST: AtomicBool = AtomicBool::new(false);

/// The last fault handed to the previous handler first: `(thread id, address)`,
/// packed, so that a fault that comes straight back is known to be unrecovered.
static LAST_PASSED: AtomicU64 = AtomicU64::new(0);

/// When the crash wipe runs relative to a handler installed before siegel's (see
/// the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Order {
    /// Wipe (and poison) every region, then hand the signal on. The default: the
    /// secrets are gone whatever the previous handler does.
    #[default]
    WipeFirst,
    /// For `SIGSEGV` and `SIGBUS`: hand the fault to the previous handler first,
    /// and wipe only if it did not recover (it reset its disposition, there was
    /// none, or the same fault recurs at once). Other signals wipe first.
    PreviousFirst,
}

/// Installs the wipe-on-fatal-signal handler (see the module docs), wiping
/// before or after a handler installed earlier as `order` says
/// ([`Order::WipeFirst`], the default, unless you know you need the other).
/// The first call installs; later calls only change the order.
///
/// # Errors
///
/// [`Error::Signal`] if `sigaction` fails (it does not for these signals).
///
/// # Examples
///
/// ```no_run
/// use siegel::crash::{wipe_on_fatal_signal, Order};
///
/// wipe_on_fatal_signal(Order::WipeFirst)?;
/// // Or, after a runtime (say wasmtime) installed its own SIGSEGV handler:
/// wipe_on_fatal_signal(Order::PreviousFirst)?;
/// # Ok::<(), siegel::Error>(())
/// ```
pub fn wipe_on_fatal_signal(order: Order) -> Result<(), Error> {
    PREVIOUS_FIRST.store(order == Order::PreviousFirst, Ordering::Release);
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

extern "C" fn on_fatal_signal(sig: c_int, info: *mut sys::SigInfo, context: *mut c_void) {
    let recoverable = sig == sys::SIGSEGV || sig == sys::SIGBUS;
    let previous_first = PREVIOUS_FIRST.load(Ordering::Acquire);
    if recoverable && previous_first && previous_handler(sig).is_some() {
        // SAFETY:
        // - the kernel passed `info` to this SA_SIGINFO handler for a SIGSEGV or
        //   SIGBUS.
        let addr = unsafe { sys::fault_addr(info) };
        let addr = u64::try_from(addr).unwrap_or(u64::MAX);
        let fault = (u64::from(sys::gettid().unsigned_abs()) << 48) ^ addr;
        if LAST_PASSED.swap(fault, Ordering::AcqRel) != fault {
            chain(sig, info, context);
            // Still handled: the previous handler returned, as it does when it
            // recovered. If it did not, the same fault comes straight back.
            if sys::handled(sig) {
                return;
            }
        }
    }
    registry::wipe_all_for_crash();
    let fd = NOTIFY_FD.load(Ordering::Acquire);
    if fd >= 0 {
        sys::write_ignoring_errors(fd, b"W");
    }
    if recoverable && previous_first {
        // The previous handler already had the fault: let it recur on the
        // default action.
        sys::die_by_default(sig);
    } else {
        chain(sig, info, context);
    }
}

/// The disposition installed before ours for `sig`, if it is a handler (not
/// `SIG_DFL` or `SIG_IGN`).
fn previous_handler(sig: c_int) -> Option<&'static sys::SigAction> {
    let previous = FATAL_SIGNALS
        .iter()
        .position(|&s| s == sig)
        .and_then(|i| PREVIOUS.get(i))
        .map(|p| p.load(Ordering::Acquire));
    // SAFETY:
    // - non-null pointers in `PREVIOUS` come from `Box::into_raw` and are never
    //   freed.
    let previous = previous.and_then(|p| unsafe { p.as_ref() })?;
    sys::is_handler(previous).then_some(previous)
}

/// Hands `sig` to the disposition that was installed before ours.
fn chain(sig: c_int, info: *mut sys::SigInfo, context: *mut c_void) {
    // SAFETY:
    // - `previous_handler` returns a disposition `sigaction` gave us; `info` and
    //   `context` are the kernel's for this signal.
    unsafe { sys::forward(previous_handler(sig), sig, info, context) };
}
