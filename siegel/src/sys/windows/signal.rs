//! The crash wipe's signals, as Windows delivers them: as exceptions. An
//! unhandled-exception filter (`SetUnhandledExceptionFilter`) stands in for the
//! POSIX handlers of `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE` and `SIGABRT`: it
//! runs when an exception found no handler — the moment the process is about
//! to die, as the default action of a fatal signal — maps the exception code to
//! one of those signals, calls the handler installed for it, and hands the
//! exception on to the filter that was installed before (the C runtime's, a
//! crash reporter's) or to Windows, which ends the process.
//!
//! An exception some handler recovers (structured exception handling, a
//! vectored handler) never reaches the filter, so a recovered fault wipes
//! nothing. The filter does not run when a debugger is attached (it gets the
//! exception instead), for `__fastfail` (Rust's `std::process::abort` and
//! `panic = "abort"`, the C runtime's stack-cookie failures: they bypass every
//! handler), or after another component replaced the filter without chaining.
//!
//! Windows has no signal numbers of its own for these: the constants below are
//! Linux's, kept only to name the five cases. No other signal can be installed
//! (the revocation signal is for protection keys, which Windows lacks).

use core::{
    ffi::{c_int, c_void},
    sync::atomic::{AtomicUsize, Ordering},
};
use std::{io, sync::Once};

use windows_sys::Win32::{
    Foundation::{
        EXCEPTION_ACCESS_VIOLATION, EXCEPTION_ARRAY_BOUNDS_EXCEEDED,
        EXCEPTION_DATATYPE_MISALIGNMENT, EXCEPTION_FLT_DENORMAL_OPERAND,
        EXCEPTION_FLT_DIVIDE_BY_ZERO, EXCEPTION_FLT_INEXACT_RESULT,
        EXCEPTION_FLT_INVALID_OPERATION, EXCEPTION_FLT_OVERFLOW, EXCEPTION_FLT_STACK_CHECK,
        EXCEPTION_FLT_UNDERFLOW, EXCEPTION_GUARD_PAGE, EXCEPTION_ILLEGAL_INSTRUCTION,
        EXCEPTION_INT_DIVIDE_BY_ZERO, EXCEPTION_INT_OVERFLOW, EXCEPTION_IN_PAGE_ERROR,
        EXCEPTION_PRIV_INSTRUCTION, EXCEPTION_STACK_OVERFLOW,
    },
    System::Diagnostics::Debug::{
        SetUnhandledExceptionFilter, EXCEPTION_CONTINUE_SEARCH, EXCEPTION_POINTERS,
        EXCEPTION_RECORD,
    },
};

/// A signal number (one of the five below).
pub(crate) type Signal = c_int;

/// What the handler gets about the fault: the exception record and context
/// Windows passed the filter.
pub(crate) type SigInfo = EXCEPTION_POINTERS;

/// The signature of a handler, as on POSIX (the context argument is null).
pub(crate) type SigInfoHandler = extern "C" fn(c_int, *mut SigInfo, *mut c_void);

/// A saved disposition: the handler address installed for a signal, 0 for
/// none (the exception goes on to the previous filter or to Windows).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SigAction {
    handler: usize,
}

/// An access violation, a stack overflow, a guard-page or bounds fault.
pub(crate) const SIGSEGV: Signal = 11;
/// A page that could not be brought in (`EXCEPTION_IN_PAGE_ERROR`), a
/// misaligned access.
pub(crate) const SIGBUS: Signal = 7;
/// An illegal or privileged instruction.
pub(crate) const SIGILL: Signal = 4;
/// An integer or floating-point arithmetic fault.
pub(crate) const SIGFPE: Signal = 8;
/// Every other unhandled exception (a C++ exception, a software exception).
pub(crate) const SIGABRT: Signal = 22;

/// The five signals, in the order of [`HANDLERS`].
const SIGNALS: [Signal; 5] = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT];

/// The handler installed for each of [`SIGNALS`] (0: none).
static HANDLERS: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];

/// The filter installed before ours (0: none).
static PREVIOUS_FILTER: AtomicUsize = AtomicUsize::new(0);

fn slot(sig: Signal) -> io::Result<&'static AtomicUsize> {
    SIGNALS
        .iter()
        .position(|&s| s == sig)
        .and_then(|i| HANDLERS.get(i))
        .ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))
}

/// The signal an exception code stands for.
fn signal_of(code: i32) -> Signal {
    match code {
        EXCEPTION_ACCESS_VIOLATION
        | EXCEPTION_STACK_OVERFLOW
        | EXCEPTION_GUARD_PAGE
        | EXCEPTION_ARRAY_BOUNDS_EXCEEDED => SIGSEGV,
        EXCEPTION_IN_PAGE_ERROR | EXCEPTION_DATATYPE_MISALIGNMENT => SIGBUS,
        EXCEPTION_ILLEGAL_INSTRUCTION | EXCEPTION_PRIV_INSTRUCTION => SIGILL,
        EXCEPTION_INT_DIVIDE_BY_ZERO
        | EXCEPTION_INT_OVERFLOW
        | EXCEPTION_FLT_DENORMAL_OPERAND
        | EXCEPTION_FLT_DIVIDE_BY_ZERO
        | EXCEPTION_FLT_INEXACT_RESULT
        | EXCEPTION_FLT_INVALID_OPERATION
        | EXCEPTION_FLT_OVERFLOW
        | EXCEPTION_FLT_STACK_CHECK
        | EXCEPTION_FLT_UNDERFLOW => SIGFPE,
        _ => SIGABRT,
    }
}

/// The unhandled-exception filter: calls the handler installed for the
/// exception's signal, then hands the exception to the previous filter, or
/// lets Windows end the process.
unsafe extern "system" fn on_unhandled_exception(info: *const EXCEPTION_POINTERS) -> i32 {
    // SAFETY:
    // - Windows passes the filter valid EXCEPTION_POINTERS [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/errhandlingapi/nf-errhandlingapi-setunhandledexceptionfilter
    let code = unsafe { record(info.cast_mut()) }.map_or(0, |r| r.ExceptionCode);
    let sig = signal_of(code);
    let handler = slot(sig).map_or(0, |s| s.load(Ordering::Acquire));
    if handler != 0 {
        // SAFETY:
        // - non-zero entries of HANDLERS are `SigInfoHandler`s stored by
        //   `sigaction_install_with`.
        let handler = unsafe { core::mem::transmute::<usize, SigInfoHandler>(handler) };
        handler(sig, info.cast_mut(), core::ptr::null_mut());
    }
    let previous = PREVIOUS_FILTER.load(Ordering::Acquire);
    if previous == 0 {
        return EXCEPTION_CONTINUE_SEARCH;
    }
    // SAFETY:
    // - a non-zero PREVIOUS_FILTER is the filter SetUnhandledExceptionFilter
    //   returned, which its owner installed to be called this way.
    let previous = unsafe {
        core::mem::transmute::<usize, unsafe extern "system" fn(*const EXCEPTION_POINTERS) -> i32>(
            previous,
        )
    };
    // SAFETY:
    // - as above; `info` is what Windows passed us.
    unsafe { previous(info) }
}

/// Installs `handler` for `sig` (one of the five signals), behind the
/// unhandled-exception filter installed on first use, and returns the previous
/// disposition.
///
/// # Safety
///
/// `handler` must be safe to run when a thread dies of an unhandled exception
/// (no locks another thread may hold, no allocation).
///
/// # Errors
///
/// `Unsupported` for any other signal.
///
/// # References
///
/// - <https://learn.microsoft.com/en-us/windows/win32/api/errhandlingapi/nf-errhandlingapi-setunhandledexceptionfilter>
pub(crate) unsafe fn sigaction_install(
    sig: Signal,
    handler: SigInfoHandler,
) -> io::Result<SigAction> {
    // SAFETY:
    // - the caller's guarantee is passed on.
    unsafe { sigaction_install_with(sig, handler, 0) }
}

/// As [`sigaction_install`]; `extra` (POSIX `sa_flags`) means nothing here.
///
/// # Safety
///
/// As [`sigaction_install`].
///
/// # Errors
///
/// As [`sigaction_install`].
pub(crate) unsafe fn sigaction_install_with(
    sig: Signal,
    handler: SigInfoHandler,
    _extra: c_int,
) -> io::Result<SigAction> {
    static FILTER: Once = Once::new();
    failpoint!(Sigaction);
    let slot = slot(sig)?;
    FILTER.call_once(|| {
        // SAFETY:
        // - `on_unhandled_exception` has the filter's signature and only reads
        //   what Windows passes it [1].
        //
        // [1] https://learn.microsoft.com/en-us/windows/win32/api/errhandlingapi/nf-errhandlingapi-setunhandledexceptionfilter
        let previous = unsafe { SetUnhandledExceptionFilter(Some(on_unhandled_exception)) };
        #[allow(clippy::as_conversions, reason = "the filter's address")]
        let previous = previous.map_or(0, |f| f as usize);
        PREVIOUS_FILTER.store(previous, Ordering::Release);
    });
    let old = slot.swap(address_of(handler), Ordering::AcqRel);
    Ok(SigAction { handler: old })
}

/// Restores a saved disposition.
///
/// # Safety
///
/// `action` must be a disposition [`sigaction_install`] or
/// [`sigaction_query`] returned.
///
/// # Errors
///
/// `Unsupported` for a signal other than the five.
pub(crate) unsafe fn sigaction_restore(sig: Signal, action: &SigAction) -> io::Result<()> {
    failpoint!(SigactionRestore);
    slot(sig)?.store(action.handler, Ordering::Release);
    Ok(())
}

/// The disposition installed now.
///
/// # Errors
///
/// `Unsupported` for a signal other than the five.
pub(crate) fn sigaction_query(sig: Signal) -> io::Result<SigAction> {
    failpoint!(SigactionQuery);
    Ok(SigAction { handler: slot(sig)?.load(Ordering::Acquire) })
}

/// The handler address a disposition holds (0: none).
pub(crate) fn handler_of(action: &SigAction) -> usize {
    action.handler
}

/// The address of `handler`, as [`handler_of`] reports it once installed.
pub(crate) fn address_of(handler: SigInfoHandler) -> usize {
    #[allow(clippy::as_conversions, reason = "the handler's address")]
    let address = handler as usize;
    address
}

/// Whether `action` is the default disposition.
pub(crate) fn is_default(action: &SigAction) -> bool {
    action.handler == 0
}

/// Whether `action` is a handler.
pub(crate) fn is_handler(action: &SigAction) -> bool {
    action.handler != 0
}

/// Whether a handler is installed for `sig` now.
pub(crate) fn handled(sig: Signal) -> bool {
    sigaction_query(sig).is_ok_and(|current| is_handler(&current))
}

/// Whether a failed `tgkill` found the thread gone: never (there is no
/// `tgkill` here).
pub(crate) fn is_no_such_thread(_err: &io::Error) -> bool {
    false
}

/// Whether a failed `tgkill` found the signal queue full: never.
pub(crate) fn is_queue_full(_err: &io::Error) -> bool {
    false
}

/// The exception code of the fault `info` describes, as an `si_code`
/// stand-in (0 for a null `info`).
///
/// # Safety
///
/// `info` is null or the pointers Windows passed the running filter.
pub(crate) unsafe fn fault_code(info: *mut SigInfo) -> c_int {
    // SAFETY:
    // - the caller passes Windows' EXCEPTION_POINTERS or null.
    unsafe { record(info) }.map_or(0, |r| r.ExceptionCode)
}

/// The exception record `info` points to (`None` for null pointers).
///
/// # Safety
///
/// `info` is null or the pointers Windows passed the running filter, whose
/// record pointer is null or valid while the filter runs.
unsafe fn record<'a>(info: *mut SigInfo) -> Option<&'a EXCEPTION_RECORD> {
    // SAFETY:
    // - the caller passes Windows' EXCEPTION_POINTERS or null.
    let info = unsafe { info.as_ref() }?;
    // SAFETY:
    // - as above: the record is valid while the filter runs [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/winnt/ns-winnt-exception_pointers
    unsafe { info.ExceptionRecord.as_ref() }
}

/// The faulting data address of an access violation or in-page error (the
/// second parameter of its record), else the instruction's address (0 for a
/// null `info`).
///
/// # Safety
///
/// As [`fault_code`].
pub(crate) unsafe fn fault_addr(info: *mut SigInfo) -> usize {
    // SAFETY:
    // - the caller passes Windows' EXCEPTION_POINTERS or null.
    let Some(record) = (unsafe { record(info) }) else {
        return 0;
    };
    match record.ExceptionCode {
        EXCEPTION_ACCESS_VIOLATION | EXCEPTION_IN_PAGE_ERROR if record.NumberParameters >= 2 => {
            record.ExceptionInformation[1]
        }
        _ => record.ExceptionAddress.addr(),
    }
}

/// "Die by the default action": nothing to do here — the filter returns and
/// the exception goes on to the previous filter or to Windows, which ends the
/// process.
pub(crate) fn die_by_default(_sig: Signal) {}

/// Hands `sig` to `previous` (a handler [`sigaction_install`] returned), or, for
/// `None`, lets the exception go on (see [`die_by_default`]).
///
/// # Safety
///
/// `previous` is a disposition [`sigaction_install`] returned; `info` is what
/// Windows passed the running filter.
pub(crate) unsafe fn forward(
    previous: Option<&SigAction>,
    sig: Signal,
    info: *mut SigInfo,
    context: *mut c_void,
) {
    // No handler: returning is `die_by_default` here (the exception goes on).
    if let Some(previous) = previous.filter(|p| is_handler(p)) {
        // SAFETY:
        // - a handler address in a SigAction was stored from a `SigInfoHandler`.
        let handler = unsafe { core::mem::transmute::<usize, SigInfoHandler>(previous.handler) };
        handler(sig, info, context);
    }
}
