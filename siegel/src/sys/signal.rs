//! Signals, as POSIX spells them: installing and chaining handlers, and reading
//! what the kernel reports about a fault. Sending the revocation signal to one
//! thread is per OS (`tgkill` on Linux).

use std::io;

use libc::{c_int, c_void};

use super::ret;

/// A saved signal disposition, as `sigaction(2)` fills it.
pub(crate) type SigAction = libc::sigaction;

/// The signature of an `SA_SIGINFO` handler.
pub(crate) type SigInfoHandler = extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);

/// `sigaction(sig, {handler, SA_SIGINFO | SA_RESTART | extra}, &old)`: as
/// [`sigaction_install`], with `extra` flags instead of `SA_ONSTACK`. A handler
/// installed without `SA_ONSTACK` runs on the interrupted thread's own stack,
/// which is much larger than the alternate stack Rust gives each thread (a
/// signal frame with a full XSAVE area alone can take half of that).
///
/// # Safety
///
/// `handler` must be async-signal-safe.
pub(crate) unsafe fn sigaction_install_with(
    sig: c_int,
    handler: SigInfoHandler,
    extra: c_int,
) -> io::Result<SigAction> {
    failpoint!(Sigaction);
    // SAFETY:
    // - an all-zero `struct sigaction` is valid: no handler, empty mask, no flags.
    let mut new: SigAction = unsafe { core::mem::zeroed() };
    #[allow(clippy::as_conversions, reason = "sighandler_t is the handler's address")]
    let address = handler as usize;
    new.sa_sigaction = address;
    new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | extra;
    // SAFETY:
    // - as above, a zeroed `struct sigaction` is a valid out-parameter.
    let mut old: SigAction = unsafe { core::mem::zeroed() };
    // SAFETY:
    // - both structs are valid; the caller guarantees `handler` is
    //   async-signal-safe [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/sigaction.2.html
    ret(unsafe { libc::sigaction(sig, &raw const new, &raw mut old) })?;
    Ok(old)
}

/// `sigaction(sig, action, NULL)`—restores a saved disposition. Async-signal-safe.
///
/// # Safety
///
/// `action` must hold a disposition `sigaction` returned earlier (or `SIG_DFL`).
pub(crate) unsafe fn sigaction_restore(sig: c_int, action: &SigAction) -> io::Result<()> {
    failpoint!(SigactionRestore);
    // SAFETY:
    // - the caller guarantees `action` is a valid disposition; sigaction(2) is
    //   async-signal-safe [1].
    //
    // [1] https://man7.org/linux/man-pages/man7/signal-safety.7.html
    ret(unsafe { libc::sigaction(sig, action, core::ptr::null_mut()) })
}

/// `sigaction(sig, NULL, &current)`—the disposition installed now.
/// Async-signal-safe.
pub(crate) fn sigaction_query(sig: c_int) -> io::Result<SigAction> {
    failpoint!(SigactionQuery);
    // SAFETY:
    // - an all-zero `struct sigaction` is a valid out-parameter.
    let mut current: SigAction = unsafe { core::mem::zeroed() };
    // SAFETY:
    // - a NULL new action only queries; `current` is valid and writable [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/sigaction.2.html
    ret(unsafe { libc::sigaction(sig, core::ptr::null(), &raw mut current) })?;
    Ok(current)
}

/// `raise(sig)`—sends `sig` to the calling thread. Async-signal-safe.
pub(crate) fn raise(sig: c_int) {
    // SAFETY:
    // - raise(3) has no memory preconditions and is async-signal-safe [1].
    //
    // [1] https://man7.org/linux/man-pages/man7/signal-safety.7.html
    unsafe { libc::raise(sig) };
}

/// The handler address a disposition holds (`SIG_DFL` is 0, `SIG_IGN` 1).
pub(crate) fn handler_of(action: &SigAction) -> usize {
    action.sa_sigaction
}

/// The address of `handler`, as [`handler_of`] reports it once installed.
pub(crate) fn address_of(handler: SigInfoHandler) -> usize {
    #[allow(clippy::as_conversions, reason = "sighandler_t is the handler's address")]
    let address = handler as usize;
    address
}

/// Whether `action` is the default disposition (no handler, not ignored).
pub(crate) fn is_default(action: &SigAction) -> bool {
    action.sa_sigaction == libc::SIG_DFL
}

/// Whether a failed [`tgkill`](crate::sys::tgkill) found the thread gone (`ESRCH`).
pub(crate) fn is_no_such_thread(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ESRCH)
}

/// Whether a failed [`tgkill`](crate::sys::tgkill) found the real-time signal queue full
/// (`EAGAIN`: `RLIMIT_SIGPENDING`).
pub(crate) fn is_queue_full(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EAGAIN)
}

/// A signal number.
pub(crate) type Signal = c_int;

/// What the kernel passes an `SA_SIGINFO` handler about the signal.
pub(crate) type SigInfo = libc::siginfo_t;

/// The signals a crash wipe handles.
pub(crate) const SIGSEGV: Signal = libc::SIGSEGV;
/// See [`SIGSEGV`].
pub(crate) const SIGBUS: Signal = libc::SIGBUS;
/// See [`SIGSEGV`].
pub(crate) const SIGILL: Signal = libc::SIGILL;
/// See [`SIGSEGV`].
pub(crate) const SIGFPE: Signal = libc::SIGFPE;
/// See [`SIGSEGV`].
pub(crate) const SIGABRT: Signal = libc::SIGABRT;

/// `si_code` of the signal `info` describes (0 for a null `info`).
///
/// # Safety
///
/// `info` is null or the `siginfo_t` the kernel passed the running handler.
pub(crate) unsafe fn fault_code(info: *mut SigInfo) -> c_int {
    // SAFETY:
    // - the caller passes the kernel's `siginfo_t` or null.
    unsafe { info.as_ref() }.map_or(0, |i| i.si_code)
}

/// The faulting address of a `SIGSEGV`/`SIGBUS` (0 for a null `info`).
///
/// # Safety
///
/// As [`fault_code`], for a `SIGSEGV` or `SIGBUS`.
pub(crate) unsafe fn fault_addr(info: *mut SigInfo) -> usize {
    // SAFETY:
    // - the caller passes the kernel's `siginfo_t` or null.
    match unsafe { info.as_ref() } {
        // SAFETY:
        // - for SIGSEGV and SIGBUS the kernel filled `si_addr` [1].
        //
        // [1] https://man7.org/linux/man-pages/man2/sigaction.2.html
        Some(i) => unsafe { i.si_addr() }.addr(),
        None => 0,
    }
}

/// Whether `action` is a handler (not `SIG_DFL` or `SIG_IGN`).
pub(crate) fn is_handler(action: &SigAction) -> bool {
    action.sa_sigaction != libc::SIG_DFL && action.sa_sigaction != libc::SIG_IGN
}

/// Whether a handler (not the default action) is installed for `sig` now.
/// Async-signal-safe.
pub(crate) fn handled(sig: Signal) -> bool {
    sigaction_query(sig).is_ok_and(|current| is_handler(&current))
}

/// Restores the default action for `sig` and re-delivers it: the signal is
/// blocked while a handler runs, so it arrives when the handler returns — and a
/// fault would recur anyway when the faulting instruction runs again.
/// Async-signal-safe.
pub(crate) fn die_by_default(sig: Signal) {
    // SAFETY:
    // - an all-zero `struct sigaction` is SIG_DFL with an empty mask.
    let default: SigAction = unsafe { core::mem::zeroed() };
    // SAFETY:
    // - `default` is a valid disposition; sigaction(2) is async-signal-safe.
    let _ = unsafe { sigaction_restore(sig, &default) };
    raise(sig);
}

/// Hands `sig` to `previous` as the kernel would have (or to the default action
/// when `previous` is `None`, `SIG_DFL` or `SIG_IGN`). Async-signal-safe.
///
/// # Safety
///
/// `previous` is a disposition `sigaction` returned; `info` and `context` are
/// what the kernel passed the running handler.
pub(crate) unsafe fn forward(
    previous: Option<&SigAction>,
    sig: Signal,
    info: *mut SigInfo,
    context: *mut c_void,
) {
    let Some(previous) = previous.filter(|p| is_handler(p)) else {
        die_by_default(sig);
        return;
    };
    let handler = previous.sa_sigaction;
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY:
        // - with SA_SIGINFO, `sa_sigaction` holds a `void (*)(int, siginfo_t *, void *)`
        //   installed by its owner [1]; we call it as the kernel would.
        //
        // [1] https://man7.org/linux/man-pages/man2/sigaction.2.html
        let previous = unsafe { core::mem::transmute::<usize, SigInfoHandler>(handler) };
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
