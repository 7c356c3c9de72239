//! Linux: everything [`super`] needs beyond POSIX — protection keys,
//! `madvise(MADV_DONTDUMP | MADV_DONTFORK | MADV_WIPEONFORK)`, `memfd_secret`,
//! `/proc/self/mem`, `gettid`, `/proc/self/task` and `tgkill` with a
//! real-time signal.

mod mem;
mod pkey;
mod proc;
mod signal;

#[cfg_attr(
    miri,
    allow(unused_imports, reason = "under Miri the shim serves the memory calls")
)]
pub(crate) use self::{mem::*, pkey::*, proc::*, signal::*};
pub(crate) use super::random::getrandom;

/// Whether [`write_process_memory`] can write behind a seal (`/proc/self/mem`);
/// where it cannot, it fails and callers open, write and re-seal instead.
pub(crate) const CAN_WRITE_BEHIND_SEAL: bool = true;
/// Whether `madvise(Advice::LinuxDontDump)` leaves pages out of core dumps
/// (`MADV_DONTDUMP`).
pub(crate) const CAN_EXCLUDE_FROM_CORE_DUMPS: bool = true;
/// Whether `madvise(Advice::LinuxDontFork)` keeps pages out of `fork` children
/// (`MADV_DONTFORK`).
pub(crate) const CAN_EXCLUDE_FROM_FORK: bool = true;
/// Whether [`memfd_secret`] can exist here (the kernel may still refuse it).
pub(crate) const HAS_SECRET_MEMORY: bool = true;
/// Whether this target can have protection keys at all (the CPU and kernel
/// still decide: `cpu::pku_support`). Linux x86-64 only; arm64 POE would use
/// the same calls but is not supported yet.
pub(crate) const HAS_PROTECTION_KEYS: bool = cfg!(target_arch = "x86_64");
