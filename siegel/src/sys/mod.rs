//! The syscall layer: thin, typed wrappers over the few system calls siegel
//! needs. What POSIX spells the same everywhere is one module per concern
//! (rustix's layout): [`mem`] (mappings, protection, locking), [`signal`]
//! (handlers, faults) and [`proc`] (this process: id, limits, standard error);
//! `random` holds `getrandom`, spelled the same on Linux and FreeBSD.
//! What only some systems have, or spell their own way, is one module per OS
//! behind the same functions: `linux` (protection keys, `madvise` advice,
//! `memfd_secret`, `/proc/self/mem`, `gettid`, the thread list,
//! `tgkill`) and `bsd` for macOS and FreeBSD (the page-protection backend
//! only: the same functions fail with `Unsupported` where the OS has no
//! equivalent).
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

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd")))]
compile_error!(
    "siegel supports Linux, macOS and FreeBSD only (mmap, mprotect, mlock; see the README's \
     platform table)"
);

#[macro_use]
pub(crate) mod failpoint;
mod mem;
mod proc;
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
mod random;
mod signal;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use self::linux as os;

#[cfg(any(target_os = "macos", target_os = "freebsd"))]
mod bsd;
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
use self::bsd as os;

use std::io;

use libc::c_int;
#[cfg(target_os = "linux")]
use libc::c_long;

#[cfg(not(miri))]
pub(crate) use self::{mem::*, os::*, proc::*, signal::*};

// Under Miri a memory shim serves the calls Miri cannot run (mappings,
// protection, keys, signals, `/proc`), with the same signatures, and re-exports
// the real wrappers Miri does run. The real modules still compile (the shim
// shares their types), so most of their functions go unused there.
#[cfg(miri)]
mod miri;
#[cfg(miri)]
pub(crate) use self::miri::*;

/// Maps a `0 / -1 + errno` return value to `io::Result`.
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
pub(crate) fn is_out_of_mappings(call: ProtectCall, err: &io::Error) -> bool {
    let errno = err.raw_os_error();
    errno == Some(libc::ENOMEM) || (call == ProtectCall::Madvise && errno == Some(libc::EAGAIN))
}
