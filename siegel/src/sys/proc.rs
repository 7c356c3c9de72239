//! This process and its threads: ids, limits, the thread list, standard error.

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
    Ok((lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur))
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

/// `gettid()`—the calling thread's id. Async-signal-safe.
pub(crate) fn gettid() -> i32 {
    // SAFETY:
    // - gettid(2) has no preconditions and cannot fail [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/gettid.2.html
    unsafe { libc::gettid() }
}

/// `write(fd, buf)`, ignoring the result. Async-signal-safe.
pub(crate) fn write_ignoring_errors(fd: c_int, buf: &[u8]) {
    // SAFETY:
    // - `buf` is valid for `buf.len()` bytes; write(2) is async-signal-safe [1].
    //
    // [1] https://man7.org/linux/man-pages/man7/signal-safety.7.html
    unsafe { libc::write(fd, buf.as_ptr().cast::<c_void>(), buf.len()) };
}

/// The ids of this process's threads, from `/proc/self/task`.
///
/// # Errors
///
/// If `/proc` is not mounted.
pub(crate) fn thread_ids() -> io::Result<Vec<i32>> {
    failpoint!(ThreadIds);
    let mut tids = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        if let Some(tid) = entry?.file_name().to_str().and_then(|name| name.parse().ok()) {
            tids.push(tid);
        }
    }
    Ok(tids)
}

/// Whether thread `tid` of this process still exists.
pub(crate) fn thread_alive(tid: i32) -> bool {
    failpoint!(ThreadAlive => false);
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}

/// Writes `bytes` to standard error, ignoring failure. Async-signal-safe.
pub(crate) fn write_stderr(bytes: &[u8]) {
    write_ignoring_errors(2, bytes);
}

/// Writes `n` in hexadecimal to standard error. Async-signal-safe, and small on
/// the stack (it runs on alternate signal stacks).
pub(crate) fn write_hex_stderr(mut n: u64) {
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
    write_stderr(&digits[at..]);
}

/// The signals thread `tid` of this process blocks now (`SigBlk` of
/// `/proc/self/task/TID/status`): bit `n - 1` for signal `n`.
///
/// # Errors
///
/// `NotFound` if the thread has exited; `InvalidData` if the file is not in the
/// format `proc(5)` documents.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man5/proc_pid_status.5.html>
pub(crate) fn blocked_signals(tid: i32) -> io::Result<u64> {
    failpoint!(ThreadInfo);
    // Read into the stack: a round reads this for every thread it reaches, and
    // a heap buffer grown to the file's size would be an allocation a secret's
    // load is not expected to make (tests/load.rs watches for them).
    let mut buf = [0u8; 4096];
    read_task_file(tid, "status", &mut buf)?
        .lines()
        .find_map(|line| line.strip_prefix("SigBlk:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .ok_or_else(|| io::ErrorKind::InvalidData.into())
}

/// When thread `tid` of this process started, in clock ticks since boot
/// (field 22 of `/proc/self/task/TID/stat`, [`ticks_per_second`] per second,
/// `CLOCK_BOOTTIME` based).
///
/// # Errors
///
/// `NotFound` if the thread has exited; `InvalidData` if the file is not in the
/// format `proc(5)` documents.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html>
pub(crate) fn thread_start_ticks(tid: i32) -> io::Result<u64> {
    failpoint!(ThreadInfo);
    let mut buf = [0u8; 1024];
    let stat = read_task_file(tid, "stat", &mut buf)?;
    // The name (field 2) may hold spaces and parentheses: the fields after it
    // start after its last `)`, with the state (field 3) first.
    stat.rfind(')')
        .and_then(|at| stat[at + 1..].split_whitespace().nth(22 - 3))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| io::ErrorKind::InvalidData.into())
}

/// Reads `/proc/self/task/TID/NAME` into `buf`: the text, or `InvalidData` if
/// it does not fit or is not UTF-8.
fn read_task_file<'b>(tid: i32, name: &str, buf: &'b mut [u8]) -> io::Result<&'b str> {
    use io::Read as _;
    use io::Write as _;
    let mut path = [0u8; 64];
    let mut cursor = io::Cursor::new(&mut path[..]);
    write!(cursor, "/proc/self/task/{tid}/{name}")?;
    let len = usize::try_from(cursor.position()).map_err(|_| io::ErrorKind::InvalidData)?;
    let path = core::str::from_utf8(&path[..len]).map_err(|_| io::ErrorKind::InvalidData)?;
    let mut file = std::fs::File::open(path)?;
    let mut filled = 0;
    loop {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if filled == buf.len() {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
    core::str::from_utf8(&buf[..filled]).map_err(|_| io::ErrorKind::InvalidData.into())
}

/// The name of thread `tid` (`/proc/self/task/TID/comm`), or `"?"`.
pub(crate) fn thread_name(tid: i32) -> String {
    let mut buf = [0u8; 64];
    read_task_file(tid, "comm", &mut buf)
        .map_or_else(|_| "?".to_owned(), |name| name.trim_end().to_owned())
}

/// Clock ticks per second (`_SC_CLK_TCK`, the unit of [`thread_start_ticks`]).
pub(crate) fn ticks_per_second() -> u64 {
    // SAFETY:
    // - sysconf(3) has no memory preconditions.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100).max(1)
}

/// Now, in the clock ticks of [`thread_start_ticks`], rounded down: a
/// thread created after this call has `start_ticks >= boottime_ticks()`.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/clock_gettime.2.html>
pub(crate) fn boottime_ticks() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY:
    // - `now` is a valid, writable `struct timespec`; CLOCK_BOOTTIME exists
    //   since Linux 2.6.39 [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/clock_gettime.2.html
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &raw mut now) };
    if rc != 0 {
        return 0;
    }
    // SAFETY:
    // - sysconf(3) has no memory preconditions.
    let per_second =
        u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100).max(1);
    let nanos = u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000
        + u64::try_from(now.tv_nsec).unwrap_or(0);
    // The kernel rounds down the same way (`nsec_to_clock_t`).
    nanos / (1_000_000_000 / per_second)
}
