//! A thread that touches memory guarded by one of siegel's protection keys
//! without an access scope of its own ends in a deliberate abort with a message
//! that names the rule — never a crash of unknown cause.
//!
//! Safe code gets there by using a reference from a guard on another thread:
//! `&T` is `Send` when `T: Sync`, so the type system cannot stop it (a scoped
//! thread, a thread pool's worker, a leaked `&'static`). Under page protection
//! the same code would read the secret; under protection keys the hardware
//! refuses, and this handler explains. Any other `SIGSEGV` goes on to the
//! handler installed before (Rust's stack-overflow report, a runtime's own
//! handler) or the default action.
//!
//! Installed once, when the PKU backend hands out its first key. It runs on the
//! thread's alternate signal stack (a stack overflow must still reach Rust's
//! handler), so it stays small: no formatting machinery, no allocation.

#![allow(unsafe_code)]

use core::{
    ffi::c_void,
    sync::atomic::{AtomicPtr, Ordering},
};
use std::sync::Once;

use crate::{pkru, sys};

/// The `SIGSEGV` disposition installed before the guard.
static PREVIOUS: AtomicPtr<sys::SigAction> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the guard (once).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY:
        // - `on_fault` is async-signal-safe (write, abort, atomics).
        if let Ok(old) = unsafe { sys::sigaction_install(sys::SIGSEGV, on_fault) } {
            PREVIOUS.store(Box::into_raw(Box::new(old)), Ordering::Release);
        }
    });
}

extern "C" fn on_fault(sig: sys::Signal, info: *mut sys::SigInfo, context: *mut c_void) {
    // SAFETY:
    // - the kernel passed `info` to this SA_SIGINFO handler for a SIGSEGV.
    let code = unsafe { sys::fault_code(info) };
    if code == sys::SEGV_PKUERR {
        // SAFETY:
        // - as above, with si_code SEGV_PKUERR.
        let key = unsafe { sys::fault_pkey(info) };
        if pkru::is_siegel_key(key) {
            // SAFETY:
            // - as above.
            let addr = unsafe { sys::fault_addr(info) };
            explain_and_abort(key, addr);
        }
    }
    // SAFETY:
    // - non-null pointers in `PREVIOUS` come from `Box::into_raw`, never freed.
    let previous = unsafe { PREVIOUS.load(Ordering::Acquire).as_ref() };
    // SAFETY:
    // - `previous` is a disposition `sigaction` returned; `info` and `context` are
    //   the kernel's for this signal.
    unsafe { sys::forward(previous, sig, info, context) };
}

#[cold]
fn explain_and_abort(key: u32, addr: usize) -> ! {
    sys::write_stderr(b"siegel: protection-key fault on key 0x");
    sys::write_hex_stderr(u64::from(key));
    sys::write_stderr(b" at 0x");
    sys::write_hex_stderr(u64::try_from(addr).unwrap_or(0));
    sys::write_stderr(
        b"\nsiegel: a thread touched a protected secret without an access scope of its own \
          (protection-key fault on a siegel key). Under protection keys a scope opens a \
          secret to the thread that opened it only: a reference from a guard must not be \
          used on another thread, and a thread spawned during a scope must not keep using \
          it. Open a scope in each thread that reads (share the `&Protected`, not the \
          guard's reference). Aborting.\n",
    );
    std::process::abort();
}
