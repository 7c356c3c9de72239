//! This process, as Windows spells it: its id, the working-set size that
//! bounds locked memory, standard error. There is no `fork`.

use core::ffi::{c_int, c_uint, c_void};
use std::io;

/// A C runtime file descriptor, as `crash::notify_fd` takes it (`_pipe`,
/// `_open_osfhandle`).
pub(crate) type RawFd = c_int;

/// What limits locked memory here, as errors name it.
pub(crate) const MEMLOCK_LIMIT_NAME: &str = "the minimum working-set size";
/// How to raise it, as errors say.
pub(crate) const MEMLOCK_LIMIT_HINT: &str = "siegel grows the working set when VirtualLock \
     reports ERROR_WORKING_SET_QUOTA; if that failed, call SetProcessWorkingSetSize with a \
     larger minimum (SeIncreaseWorkingSetPrivilege), free other secrets, or opt in to \
     MlockPolicy::BestEffort";

/// The limit on locked memory: Windows' minimum working-set size, in bytes
/// (`GetProcessWorkingSetSize`); `VirtualLock` fails with
/// `ERROR_WORKING_SET_QUOTA` beyond it (less a few pages of overhead).
///
/// # Errors
///
/// As `GetProcessWorkingSetSize`.
pub(crate) fn getrlimit_memlock() -> io::Result<Option<u64>> {
    failpoint!(Getrlimit);
    let (min, _) = super::working_set_size()?;
    Ok(Some(u64::try_from(min).unwrap_or(u64::MAX)))
}

/// The calling process's id, cached (Windows has no `fork`, so it never
/// changes).
pub(crate) fn getpid() -> u32 {
    use core::sync::atomic::{AtomicU32, Ordering};
    static PID: AtomicU32 = AtomicU32::new(0);
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// `pthread_atfork`: nothing to do, Windows has no `fork`.
///
/// # Safety
///
/// None: nothing is registered. Kept `unsafe` to match the POSIX signature.
pub(crate) unsafe fn at_fork(
    _prepare: extern "C" fn(),
    _parent: extern "C" fn(),
    _child: extern "C" fn(),
) {
}

/// `_write(fd, buf)` of the C runtime, ignoring the result.
pub(crate) fn write_ignoring_errors(fd: c_int, buf: &[u8]) {
    let len = c_uint::try_from(buf.len()).unwrap_or(c_uint::MAX);
    // SAFETY:
    // - `buf` is valid for at least `len` bytes; `_write` validates `fd` [1].
    //
    // [1] https://learn.microsoft.com/en-us/cpp/c-runtime-library/reference/write
    unsafe { libc::write(fd, buf.as_ptr().cast::<c_void>(), len) };
}

/// Writes `bytes` to standard error, ignoring failure.
pub(crate) fn write_stderr(bytes: &[u8]) {
    write_ignoring_errors(2, bytes);
}
