//! This process's threads as Linux names them: `gettid`, `/proc/self/task`,
//! and the boot-time clock its `stat` files count in.

use core::ffi::c_void;
use std::{io, sync::OnceLock};

/// `gettid()`—the calling thread's id. Async-signal-safe.
pub(crate) fn gettid() -> i32 {
    // SAFETY:
    // - gettid(2) has no preconditions and cannot fail [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/gettid.2.html
    unsafe { libc::gettid() }
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

/// Thread `tid` of this process as its `/proc/self/task/TID/stat` says, in
/// one read: its start time (field 22) and whether it is runnable (state `R`,
/// field 3).
///
/// # Errors
///
/// `NotFound` if the thread has exited; `InvalidData` if the file is not in the
/// format `proc(5)` documents.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html>
pub(crate) fn thread_stat(tid: i32) -> io::Result<crate::sys::ThreadStat> {
    failpoint!(ThreadInfo);
    let mut buf = [0u8; 1024];
    let stat = read_task_file(tid, "stat", &mut buf)?;
    let start_ticks =
        stat_field(stat, 22)?.parse().map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    Ok(crate::sys::ThreadStat { start_ticks, runnable: stat_field(stat, 3)? == "R" })
}

/// Field `field` (3 or later, counted from 1 as `proc(5)` does) of a `stat`
/// file's text.
fn stat_field(stat: &str, field: usize) -> io::Result<&str> {
    // The name (field 2) may hold spaces and parentheses: the fields after it
    // start after its last `)`, with the state (field 3) first.
    stat.rfind(')')
        .and_then(|at| stat[at + 1..].split_whitespace().nth(field - 3))
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

/// Clock ticks per second (`_SC_CLK_TCK`, the unit of [`thread_stat`]'s start).
pub(crate) fn ticks_per_second() -> u64 {
    // SAFETY:
    // - sysconf(3) has no memory preconditions.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100).max(1)
}

/// Now, in the clock ticks of [`thread_stat`]'s start, rounded down: a
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

/// The hook [`call_at_thread_exit`] runs (one for the process: siegel's).
static EXIT_HOOK: OnceLock<fn()> = OnceLock::new();

/// The `pthread` key whose destructor runs the hook: created once (or the
/// error it failed with, kept so that every thread falls back alike).
static EXIT_KEY: OnceLock<Result<libc::pthread_key_t, i32>> = OnceLock::new();

/// Arranges for `hook` to run in the calling thread when it exits, after the
/// thread-local destructors of Rust's `thread_local!` (a value they drop, a
/// guard kept in a thread-local, must close before the hook counts what is
/// left): through the destructor of a `pthread` key, which the C library runs
/// after the thread-local destructors registered with `__cxa_thread_atexit`
/// (glibc), and which re-arms itself once, so that it also runs after a
/// destructor list kept on a `pthread` key of its own (musl) [1]. Every
/// thread that calls this runs the same `hook` (the first one given).
///
/// # Errors
///
/// `pthread_key_create` failed (`EAGAIN`: the process used up
/// `PTHREAD_KEYS_MAX` keys), or `pthread_setspecific` did.
///
/// # References
///
/// [1] <https://pubs.opengroup.org/onlinepubs/9799919799/functions/pthread_key_create.html>
pub(crate) fn call_at_thread_exit(hook: fn()) -> io::Result<()> {
    /// The key's destructor: `value` is 1 the first time (re-armed with 2,
    /// so that it runs again in the next round of destructors), then 2.
    extern "C" fn run(value: *mut c_void) {
        if value.addr() == 1 {
            if let Some(Ok(key)) = EXIT_KEY.get() {
                // SAFETY:
                // - `key` is a live key of this process (never deleted); a
                //   destructor may set a value: POSIX runs the destructors
                //   again, up to PTHREAD_DESTRUCTOR_ITERATIONS rounds [1].
                //
                // [1] https://pubs.opengroup.org/onlinepubs/9799919799/functions/pthread_key_create.html
                if unsafe { libc::pthread_setspecific(*key, core::ptr::without_provenance(2)) } == 0
                {
                    return;
                }
            }
        }
        if let Some(hook) = EXIT_HOOK.get() {
            hook();
        }
    }
    EXIT_HOOK.get_or_init(|| hook);
    let key = EXIT_KEY.get_or_init(|| {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY:
        // - `key` is a valid place for the new key; `run` has the destructor
        //   signature pthread_key_create expects [1].
        //
        // [1] https://man7.org/linux/man-pages/man3/pthread_key_create.3p.html
        match unsafe { libc::pthread_key_create(&raw mut key, Some(run)) } {
            0 => Ok(key),
            err => Err(err),
        }
    });
    let key = (*key).map_err(io::Error::from_raw_os_error)?;
    // SAFETY:
    // - `key` was created above and is never deleted; the value is a marker,
    //   never dereferenced.
    match unsafe { libc::pthread_setspecific(key, core::ptr::without_provenance(1)) } {
        0 => Ok(()),
        err => Err(io::Error::from_raw_os_error(err)),
    }
}
