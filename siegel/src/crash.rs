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
//! siegel::crash::wipe_on_fatal_signal()?;
//! let key = siegel::Protected::<[u8; 32]>::init_with(|k| k.fill(1))?;
//! // ... if anything now crashes the process, `key` is zeroed before it dies.
//! # Ok::<(), siegel::Error>(())
//! ```

#![allow(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering};
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

/// Installs the wipe-on-fatal-signal handler with [`Order::WipeFirst`] (see the
/// module docs). Idempotent: later calls do nothing.
///
/// # Errors
///
/// [`Error::Signal`] if `sigaction` fails (it does not for these signals).
pub fn wipe_on_fatal_signal() -> Result<(), Error> {
    wipe_on_fatal_signal_with(Order::WipeFirst)
}

/// Installs the wipe-on-fatal-signal handler with the given [`Order`]. The first
/// call installs; later calls only change the order.
///
/// # Errors
///
/// [`Error::Signal`] if `sigaction` fails (it does not for these signals).
///
/// # Examples
///
/// ```no_run
/// // After the runtime (say wasmtime) installed its own SIGSEGV handler:
/// siegel::crash::wipe_on_fatal_signal_with(siegel::crash::Order::PreviousFirst)?;
/// # Ok::<(), siegel::Error>(())
/// ```
pub fn wipe_on_fatal_signal_with(order: Order) -> Result<(), Error> {
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

extern "C" fn on_fatal_signal(sig: c_int, info: *mut siginfo_t, context: *mut c_void) {
    let recoverable = sig == libc::SIGSEGV || sig == libc::SIGBUS;
    if recoverable && PREVIOUS_FIRST.load(Ordering::Acquire) && previous_handler(sig).is_some() {
        // SAFETY:
        // - the kernel passes a valid `siginfo_t` (or null) to an SA_SIGINFO
        //   handler [1].
        //
        // [1] https://man7.org/linux/man-pages/man2/sigaction.2.html
        let info_ref = unsafe { info.as_ref() };
        let addr = info_ref.map_or(0, |i| {
            // SAFETY:
            // - for SIGSEGV and SIGBUS the `si_addr` union member is the one the
            //   kernel filled: the faulting address [1].
            unsafe { i.si_addr() }.addr()
        });
        let addr = u64::try_from(addr).unwrap_or(u64::MAX);
        let fault = (u64::from(sys::gettid().unsigned_abs()) << 48) ^ addr;
        if LAST_PASSED.swap(fault, Ordering::AcqRel) != fault {
            chain(sig, info, context);
            // Still ours: the previous handler returned, as it does when it
            // recovered. If it did not, the same fault comes straight back.
            if still_installed(sig) {
                return;
            }
        }
    }
    region::wipe_all_for_crash();
    let fd = NOTIFY_FD.load(Ordering::Acquire);
    if fd >= 0 {
        sys::write_ignoring_errors(fd, b"W");
    }
    if recoverable && PREVIOUS_FIRST.load(Ordering::Acquire) {
        // The previous handler already had the fault: let it recur on the
        // default action.
        die_by_default(sig);
    } else {
        chain(sig, info, context);
    }
}

/// Whether a handler (ours, or one installed later that chains to ours) is
/// still the disposition of `sig`: a previous handler that gives up resets it to
/// the default action before returning, as Rust's own handler does.
fn still_installed(sig: c_int) -> bool {
    sys::sigaction_query(sig).is_ok_and(|current| {
        current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN
    })
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
    (previous.sa_sigaction != libc::SIG_DFL && previous.sa_sigaction != libc::SIG_IGN)
        .then_some(previous)
}

/// Restores the default action for `sig` and re-delivers it: the signal is
/// blocked while this handler runs, so it arrives when we return — and a fault
/// would recur anyway when the faulting instruction runs again.
fn die_by_default(sig: c_int) {
    // SAFETY:
    // - an all-zero `struct sigaction` is SIG_DFL with an empty mask.
    let default: sys::SigAction = unsafe { core::mem::zeroed() };
    // SAFETY:
    // - `default` is a valid disposition; sigaction(2) is async-signal-safe.
    let _ = unsafe { sys::sigaction_restore(sig, &default) };
    sys::raise(sig);
}

/// Hands `sig` to the disposition that was installed before ours.
fn chain(sig: c_int, info: *mut siginfo_t, context: *mut c_void) {
    chain_to(previous_handler(sig), sig, info, context);
}

/// Hands `sig` to `previous` (the default action when `None`).
fn chain_to(
    previous: Option<&sys::SigAction>,
    sig: c_int,
    info: *mut siginfo_t,
    context: *mut c_void,
) {
    let handler = previous.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        die_by_default(sig);
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

// ---------------------------------------------------------------------------
// Protection-key faults.

/// `si_code` of a fault caused by a protection key (`SEGV_PKUERR`).
const SEGV_PKUERR: c_int = 4;

/// The `SIGSEGV` disposition installed before the protection-key fault guard.
static PREVIOUS_SEGV: AtomicPtr<sys::SigAction> = AtomicPtr::new(core::ptr::null_mut());

/// Installs, once, the handler that turns a protection-key fault on a siegel key
/// into a deliberate abort with a message naming the rule (see
/// [`on_pku_fault`]). Called when the PKU backend hands out its first key.
pub(crate) fn install_pku_fault_guard() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY:
        // - `on_pku_fault` is async-signal-safe (write, abort, atomics).
        if let Ok(old) = unsafe { sys::sigaction_install(libc::SIGSEGV, on_pku_fault) } {
            PREVIOUS_SEGV.store(Box::into_raw(Box::new(old)), Ordering::Release);
        }
    });
}

/// A thread touched memory guarded by one of siegel's protection keys without
/// an access scope of its own. Safe code gets there by using a reference from a
/// guard in another thread (`&T` is `Send` when `T: Sync`, so the type system
/// cannot stop it) — which under page protection would have read the secret.
/// This is not undefined behaviour, but it must not pass for a crash of unknown
/// cause: the process aborts with a message that names the rule and the fix.
/// Any other fault goes to the handler installed before (or the default).
extern "C" fn on_pku_fault(sig: c_int, info: *mut siginfo_t, context: *mut c_void) {
    // SAFETY:
    // - the kernel passes a valid `siginfo_t` (or null) to an SA_SIGINFO handler.
    let code = unsafe { info.as_ref() }.map_or(0, |i| i.si_code);
    let pkey = if code == SEGV_PKUERR {
        // SAFETY:
        // - for SEGV_PKUERR the kernel fills `_sigfault._addr_pkey`, the u32 at
        //   byte offset 32 of `siginfo_t` on x86-64 (after `si_addr` at 16 and
        //   `si_addr_lsb` at 24, in the 8-aligned union) [1].
        //
        // [1] include/uapi/asm-generic/siginfo.h
        unsafe { info.cast::<u8>().wrapping_add(32).cast::<u32>().read_unaligned() }
    } else {
        0
    };
    if code == SEGV_PKUERR && region::is_siegel_key(pkey) {
        report_pku_fault(info, pkey);
        sys::write_ignoring_errors(
            2,
            b"siegel: a thread touched a protected secret without an access scope of its own \
              (protection-key fault on a siegel key). Under protection keys a scope opens a \
              secret to the thread that opened it only: a reference from a guard must not be \
              used on another thread, and a thread spawned during a scope must not keep using \
              it. Open a scope in each thread that reads (share the `&Protected`, not the \
              guard's reference). Aborting.\n",
        );
        std::process::abort();
    }
    let previous = PREVIOUS_SEGV.load(Ordering::Acquire);
    // SAFETY:
    // - non-null pointers in `PREVIOUS_SEGV` come from `Box::into_raw`, never freed.
    chain_to(unsafe { previous.as_ref() }, sig, info, context);
}

/// Writes "siegel: protection-key fault on key K at ADDR" to standard error.
/// Lean: it runs on the thread's alternate signal stack.
fn report_pku_fault(info: *mut siginfo_t, pkey: u32) {
    // SAFETY:
    // - the kernel passes a valid `siginfo_t` (or null) to an SA_SIGINFO handler.
    let addr = match unsafe { info.as_ref() } {
        // SAFETY:
        // - for SIGSEGV the kernel filled `si_addr`.
        Some(i) => unsafe { i.si_addr() }.addr(),
        None => 0,
    };
    sys::write_ignoring_errors(2, b"siegel: protection-key fault on key 0x");
    write_hex(u64::from(pkey));
    sys::write_ignoring_errors(2, b" at 0x");
    write_hex(u64::try_from(addr).unwrap_or(0));
    sys::write_ignoring_errors(2, b"\n");
}

/// Writes `n` in hexadecimal to standard error.
fn write_hex(mut n: u64) {
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    loop {
        at -= 1;
        let d = u8::try_from(n % 16).unwrap_or(0);
        digits[at] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
        n /= 16;
        if n == 0 || at == 0 {
            break;
        }
    }
    sys::write_ignoring_errors(2, &digits[at..]);
}
