//! This process, as POSIX spells it: its id, limits, `fork` handlers, standard
//! error. Thread ids and the thread list are per OS.

use std::io;

use libc::{c_int, c_void};

use super::ret;

/// `getrlimit(RLIMIT_MEMLOCK)`—the soft limit on locked memory, in bytes (`None`
/// when unlimited).
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/getrlimit.2.html>
pub(crate) fn getrlimit_memlock() -> io::Result<Option<u64>> {
    failpoint!(Getrlimit);
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY:
    // - `lim` is a valid, writable `struct rlimit` [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/getrlimit.2.html
    ret(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &raw mut lim) })?;
    // `rlim_t` is unsigned on Linux and macOS, `i64` on FreeBSD (which has no
    // negative limits but RLIM_INFINITY).
    #[allow(clippy::useless_conversion, reason = "rlim_t is i64 on FreeBSD")]
    let soft = u64::try_from(lim.rlim_cur).unwrap_or(u64::MAX);
    Ok((lim.rlim_cur != libc::RLIM_INFINITY).then_some(soft))
}

/// `getpid()`—the calling process's id.
///
/// Cached: every drop asks (a `fork` child must not touch its parent's pages),
/// and the system call costs more than the rest of a pooled free. A `fork`
/// child's copy of the cache is reset by a `pthread_atfork` handler registered
/// on first use, so the child sees its own pid.
pub(crate) fn getpid() -> u32 {
    use core::sync::atomic::{AtomicU32, Ordering};
    static PID: AtomicU32 = AtomicU32::new(0);
    static ATFORK: std::sync::Once = std::sync::Once::new();
    extern "C" fn forget_in_child() {
        PID.store(0, Ordering::Relaxed);
    }
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    ATFORK.call_once(|| {
        // SAFETY:
        // - `forget_in_child` is async-signal-safe (one atomic store), as a
        //   handler run in a `fork` child must be [1]; no prepare/parent handlers.
        //
        // [1] https://man7.org/linux/man-pages/man3/pthread_atfork.3.html
        unsafe { libc::pthread_atfork(None, None, Some(forget_in_child)) };
    });
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// `pthread_atfork(prepare, parent, child)`—runs `prepare` in the thread that
/// calls `fork` just before it, and `parent` / `child` in that thread on each
/// side just after.
///
/// # Safety
///
/// The handlers run inside `fork`: `child` in a child that has one thread, so
/// it may only undo what `prepare` did in this same thread.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man3/pthread_atfork.3.html>
pub(crate) unsafe fn at_fork(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) {
    // SAFETY:
    // - the caller vouches for the handlers; registration has no other
    //   preconditions [1].
    //
    // [1] https://man7.org/linux/man-pages/man3/pthread_atfork.3.html
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}

/// `write(fd, buf)`, ignoring the result. Async-signal-safe.
pub(crate) fn write_ignoring_errors(fd: c_int, buf: &[u8]) {
    // SAFETY:
    // - `buf` is valid for `buf.len()` bytes; write(2) is async-signal-safe [1].
    //
    // [1] https://man7.org/linux/man-pages/man7/signal-safety.7.html
    unsafe { libc::write(fd, buf.as_ptr().cast::<c_void>(), buf.len()) };
}

/// Writes `bytes` to standard error, ignoring failure. Async-signal-safe.
pub(crate) fn write_stderr(bytes: &[u8]) {
    write_ignoring_errors(2, bytes);
}
