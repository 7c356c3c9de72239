//! The syscall layer: thin, typed wrappers over the few system calls siegel
//! needs. What POSIX spells the same everywhere is one module per concern
//! (rustix's layout): [`mem`] (mappings, protection, locking), [`signal`]
//! (handlers, faults) and [`proc`] (this process: id, limits, standard error);
//! `random` holds `getrandom`, spelled the same on Linux and FreeBSD.
//! What only some systems have, or spell their own way, is one module per OS
//! behind the same functions: `linux` (protection keys, `madvise` advice,
//! `memfd_secret`, `/proc/self/mem`, `gettid`, the thread list,
//! `tgkill`), `bsd` for macOS and FreeBSD (the page-protection backend
//! only: the same functions fail with `Unsupported` where the OS has no
//! equivalent), and `windows`, which spells every call its own way
//! (`VirtualAlloc`, `VirtualProtect`, `VirtualLock`, `BCryptGenRandom`, an
//! unhandled-exception filter for the crash wipe) and so replaces the POSIX
//! modules as well. What only Linux has (protection keys, the thread list and
//! the revocation signal, `/proc/self/mem`) is stubbed once for the others in
//! `nokeys`.
//!
//! Nothing above this module learns which OS it runs on, except through the
//! capability constants re-exported here ([`CAN_WRITE_BEHIND_SEAL`],
//! [`CAN_EXCLUDE_FROM_CORE_DUMPS`], [`CAN_EXCLUDE_FROM_FORK`],
//! [`HAS_SECRET_MEMORY`], [`HAS_PROTECTION_KEYS`]; `crate::platform` publishes
//! them) and the errors the calls return.
//!
//! Every function here is named after the syscall it wraps, takes typed flags and
//! maps the C return convention to [`std::io::Result`] in one helper ([`ret`],
//! [`ret_long`]). Nothing above this module names `libc`.
//!
//! # Safety
//!
//! The wrappers that change a mapping (`munmap`, `mprotect`, `pkey_mprotect`,
//! `madvise`, `mlock`, `mmap_fixed_shared`) or write behind Rust's back
//! (`write_process_memory`) are `unsafe fn`: the caller must own the pages (no
//! Rust reference into them may be invalidated by the change). The region core
//! is the only caller.

#![allow(unsafe_code)]
#![cfg_attr(miri, allow(dead_code, reason = "under Miri the shim (miri.rs) serves most calls"))]

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd", windows)))]
compile_error!(
    "siegel supports Linux, macOS, FreeBSD and Windows only (mmap, mprotect, mlock or their \
     Windows equivalents; see the README's platform table)"
);

#[macro_use]
pub(crate) mod failpoint;
#[cfg(unix)]
mod mem;
#[cfg(not(target_os = "linux"))]
mod nokeys;
#[cfg(unix)]
mod proc;
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
mod random;
#[cfg(unix)]
mod signal;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use self::linux as os;

#[cfg(any(target_os = "macos", target_os = "freebsd"))]
mod bsd;
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
use self::bsd as os;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use self::windows as os;

#[cfg(unix)]
use std::io;

#[cfg(unix)]
use libc::c_int;
#[cfg(target_os = "linux")]
use libc::c_long;

#[cfg(not(miri))]
pub(crate) use self::os::*;
#[cfg(all(unix, not(miri)))]
pub(crate) use self::{mem::*, proc::*, signal::*};

// Under Miri a memory shim serves the calls Miri cannot run (mappings,
// protection, keys, signals, `/proc`), with the same signatures, and re-exports
// the real wrappers Miri does run. The real modules still compile (the shim
// shares their types), so most of their functions go unused there.
#[cfg(miri)]
mod miri;
#[cfg(miri)]
pub(crate) use self::miri::*;

/// What a thread's `stat` file says of it ([`thread_stat`]): when it started,
/// in clock ticks since boot ([`ticks_per_second`] per second, `CLOCK_BOOTTIME`
/// based), and whether it is runnable (running or waiting for a CPU; not
/// sleeping, waiting on a disk or stopped).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadStat {
    pub(crate) start_ticks: u64,
    pub(crate) runnable: bool,
}

/// The file `memfd_secret` returns, which `ftruncate` sizes and
/// `mmap_fixed_shared` maps (on Windows, where there is none, an uninhabited
/// type of the same name).
#[cfg(unix)]
pub(crate) type SecretFile = std::os::fd::OwnedFd;

/// A file descriptor, as `crash::notify_fd` takes it (on Windows a C runtime
/// descriptor: `_open_osfhandle`, `_pipe`).
#[cfg(unix)]
pub(crate) type RawFd = std::os::fd::RawFd;

/// What limits locked memory here, as errors name it.
#[cfg(unix)]
pub(crate) const MEMLOCK_LIMIT_NAME: &str = "RLIMIT_MEMLOCK";
/// How to raise it, as errors say.
#[cfg(unix)]
pub(crate) const MEMLOCK_LIMIT_HINT: &str = "raise it (`ulimit -l`, LimitMEMLOCK= in systemd, \
     limits.conf), grant CAP_IPC_LOCK, free other secrets, or opt in to MlockPolicy::BestEffort";

/// `sigaction(sig, {handler, SA_SIGINFO | SA_ONSTACK | SA_RESTART}, &old)`—installs
/// `handler` for `sig` and returns the previous disposition
/// ([`sigaction_install_with`] and `SA_ONSTACK`; emulated under Miri).
///
/// # Safety
///
/// `handler` must be async-signal-safe.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/sigaction.2.html>
#[cfg(unix)]
pub(crate) unsafe fn sigaction_install(
    sig: c_int,
    handler: SigInfoHandler,
) -> io::Result<SigAction> {
    // SAFETY:
    // - the caller guarantees `handler` is async-signal-safe.
    unsafe { sigaction_install_with(sig, handler, libc::SA_ONSTACK) }
}

/// Maps a `0 / -1 + errno` return value to `io::Result`.
#[cfg(unix)]
pub(super) fn ret(rc: c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Maps a raw `syscall(2)` return value (`-1 + errno` on failure) to `io::Result`.
#[cfg(target_os = "linux")]
pub(super) fn ret_long(rc: c_long) -> io::Result<c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A system call that changes a mapping's protection or advice (and may split
/// it, so may run out of kernel mappings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProtectCall {
    Mprotect,
    PkeyMprotect,
    Madvise,
}

impl ProtectCall {
    /// The call's name, as errors report it.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Mprotect => "mprotect",
            Self::PkeyMprotect => "pkey_mprotect",
            Self::Madvise => "madvise",
        }
    }
}

/// Whether a failed `call` ran out of kernel mappings: `ENOMEM`, or `EAGAIN`
/// from `madvise`, which reports a failed split that way.
#[cfg(unix)]
pub(crate) fn is_out_of_mappings(call: ProtectCall, err: &io::Error) -> bool {
    let errno = err.raw_os_error();
    errno == Some(libc::ENOMEM) || (call == ProtectCall::Madvise && errno == Some(libc::EAGAIN))
}

/// Advice for [`madvise`](crate::sys::madvise). The variants are named for the
/// Linux advice; each OS module maps them to its own spelling, or to nothing
/// where the OS has no equivalent (see the capabilities in [`crate::sys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(
    clippy::enum_variant_names,
    reason = "platform-only constants name the platform (STYLE.md, rustix's `Advice::LinuxDontDump`)"
)]
pub(crate) enum Advice {
    /// `MADV_DONTDUMP`: leave the pages out of core dumps.
    LinuxDontDump,
    /// `MADV_DONTFORK`: do not map the pages into children made by `fork`.
    LinuxDontFork,
    /// `MADV_WIPEONFORK`: a `fork` child gets these pages zero-filled. siegel's
    /// pages are `MADV_DONTFORK` as well, so the child gets no pages at all; the
    /// flag is used only because it is a per-mapping flag that makes a page's
    /// mapping differ from its neighbours', so the kernel never merges them.
    LinuxWipeOnFork,
    /// `MADV_RANDOM`: no read-ahead (none happens for `memfd_secret` memory,
    /// which is never read from a file). Used for the same reason as
    /// [`LinuxWipeOnFork`](Self::LinuxWipeOnFork) on shared `memfd_secret`
    /// mappings, which cannot carry that flag: a per-mapping flag that keeps a
    /// page's mapping apart from its neighbours'.
    Random,
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
