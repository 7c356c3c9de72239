//! macOS and FreeBSD: the page-protection backend on POSIX `mmap`/`mprotect`/
//! `mlock`, with each OS's own spelling of the advice and of randomness and
//! thread ids (`macos`, `freebsd`).
//!
//! What Linux has and these systems do not (protection keys, the revocation
//! signal, the thread list, `/proc/self/mem`) comes from `nokeys`, with the
//! same signatures, failing or answering "none" so that the code paths compile
//! but never run; and `memfd_secret`: [`memfd_secret`] fails, so
//! `MemoryPolicy::PreferSecret` falls back to anonymous memory and
//! `MemoryPolicy::Secret` fails.

use std::io;

pub(crate) use super::nokeys::*;

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "freebsd")]
pub(crate) use self::freebsd::*;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub(crate) use self::macos::*;

/// Whether [`write_process_memory`] can write behind a seal: no, there is no
/// `/proc/self/mem`; callers open, write and re-seal instead.
pub(crate) const CAN_WRITE_BEHIND_SEAL: bool = false;
/// Whether [`memfd_secret`] can exist here: no (Linux only).
pub(crate) const HAS_SECRET_MEMORY: bool = false;
/// Whether this target can have protection keys: no (FreeBSD's x86 pkeys go
/// through `sysarch(2)`, which siegel does not use).
pub(crate) const HAS_PROTECTION_KEYS: bool = false;

/// `memfd_secret`: Linux only.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn memfd_secret() -> io::Result<std::os::fd::OwnedFd> {
    failpoint!(MemfdSecret);
    Err(super::nokeys::unsupported())
}
