//! What this platform lets siegel protect, decided per OS at compile time:
//! [`platform`] and [`Platform`]. The README's platform table says the same
//! for every supported OS.

use crate::sys;

/// Which of siegel's protections this operating system provides. Each `false`
/// is a protection that does not hold here; none is silently absent.
///
/// These say what the OS *can* do; whether this machine's CPU and kernel do
/// (protection keys, `memfd_secret`) is decided at run time:
/// [`pku_support`](crate::pku_support), [`MemoryPolicy`](crate::MemoryPolicy).
///
/// # Examples
///
/// ```
/// let here = siegel::platform();
/// if !here.core_dump_exclusion {
///     eprintln!("core dumps on {} include secrets: disable them", here.os);
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::struct_excessive_bools, reason = "a flat list of yes/no capabilities")]
pub struct Platform {
    /// The OS, as [`std::env::consts::OS`] names it (`linux`, `macos`, `freebsd`, `windows`).
    pub os: &'static str,
    /// Protection keys can back regions (Linux x86-64; the CPU and kernel
    /// must still have them). Elsewhere every region uses page protection
    /// (`mprotect`), and `Backend::Pku` fails.
    pub protection_keys: bool,
    /// `memfd_secret` memory, removed from the kernel's direct map, can back
    /// regions (Linux 5.14+; the kernel may still refuse it).
    pub secret_memory: bool,
    /// Regions are left out of core dumps (Linux `MADV_DONTDUMP`, FreeBSD
    /// `MADV_NOCORE`; macOS and Windows have no equivalent).
    pub core_dump_exclusion: bool,
    /// A `fork` child gets no copy of any region (Linux `MADV_DONTFORK`,
    /// `minherit` `INHERIT_NONE` / `VM_INHERIT_NONE` on FreeBSD and macOS;
    /// Windows has no `fork`).
    pub fork_exclusion: bool,
    /// Sealed pages can be written and wiped without opening them to any
    /// thread (`/proc/self/mem`, Linux). Elsewhere the pool's writes and the
    /// wipes at free open the pages, write, and seal them again: for that
    /// moment the pages are readable by every thread of the process.
    pub write_behind_seal: bool,
}

/// The protections this operating system provides (see [`Platform`]).
#[must_use]
pub const fn platform() -> Platform {
    Platform {
        os: std::env::consts::OS,
        protection_keys: sys::HAS_PROTECTION_KEYS,
        secret_memory: sys::HAS_SECRET_MEMORY,
        core_dump_exclusion: sys::CAN_EXCLUDE_FROM_CORE_DUMPS,
        fork_exclusion: sys::CAN_EXCLUDE_FROM_FORK,
        write_behind_seal: sys::CAN_WRITE_BEHIND_SEAL,
    }
}
