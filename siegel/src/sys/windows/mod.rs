//! Windows: the page-protection backend on `VirtualAlloc`/`VirtualProtect`/
//! `VirtualLock`/`VirtualFree` (`mem`), this process (`proc`), randomness from
//! `BCryptGenRandom`, and the crash wipe through an unhandled-exception filter
//! standing in for the POSIX signal handlers (`signal`).
//!
//! What only Linux has (protection keys, the revocation signal, the thread
//! list, `/proc/self/mem`) comes from `nokeys`, failing or answering "none";
//! `memfd_secret` fails here too, so `MemoryPolicy::PreferSecret` falls back to
//! anonymous memory and `MemoryPolicy::Secret` fails.

use std::{io, ptr::NonNull};

use windows_sys::Win32::{
    Security::Cryptography::{BCryptGenRandom, BCRYPT_USE_SYSTEM_PREFERRED_RNG},
    System::Threading::GetCurrentThreadId,
};

pub(crate) use self::{mem::*, proc::*, signal::*};
pub(crate) use super::nokeys::*;
use super::Advice;

mod mem;
mod proc;
mod signal;

/// Whether [`write_process_memory`] can write behind a seal: no (there is no
/// `/proc/self/mem`; `WriteProcessMemory` on this process changes the
/// protection of the pages it writes, so it would open them); callers open,
/// write and re-seal instead.
pub(crate) const CAN_WRITE_BEHIND_SEAL: bool = false;
/// Whether [`memfd_secret`] can exist here: no (Linux only).
pub(crate) const HAS_SECRET_MEMORY: bool = false;
/// Whether this target can have protection keys: no (Linux x86-64 only).
pub(crate) const HAS_PROTECTION_KEYS: bool = false;
/// Whether regions are left out of crash dumps: no. Windows has no per-range
/// exclusion for every dump writer (`MiniDumpWriteDump` with full memory, a
/// debugger's `.dump /ma`, Windows Error Reporting's full dumps all include
/// the pages, sealed or open).
pub(crate) const CAN_EXCLUDE_FROM_CORE_DUMPS: bool = false;
/// Whether a child process gets no copy of any region: yes, trivially —
/// Windows has no `fork`; `CreateProcess` starts a child with fresh memory.
pub(crate) const CAN_EXCLUDE_FROM_FORK: bool = true;

/// `madvise(ptr, len, advice)` has no Windows equivalent for any advice:
///
/// - `Advice::LinuxDontDump`: nothing (see [`CAN_EXCLUDE_FROM_CORE_DUMPS`]);
/// - `Advice::LinuxDontFork`, `Advice::LinuxWipeOnFork`: nothing, there is no
///   `fork`;
/// - `Advice::Random`: nothing, anonymous memory is never read ahead.
///
/// # Safety
///
/// None: the call changes nothing. Kept `unsafe` to match the Linux signature.
#[allow(clippy::unnecessary_wraps, reason = "the Linux signature; a failpoint may fail it")]
pub(crate) unsafe fn madvise(_ptr: NonNull<u8>, _len: usize, _advice: Advice) -> io::Result<()> {
    failpoint!(Madvise);
    Ok(())
}

/// Stands for the file `memfd_secret` returns elsewhere: uninhabited, since
/// [`memfd_secret`] never returns one here.
#[derive(Debug)]
pub(crate) enum SecretFile {}

/// `memfd_secret`: Linux only.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn memfd_secret() -> io::Result<SecretFile> {
    failpoint!(MemfdSecret);
    Err(super::nokeys::unsupported())
}

/// `GetCurrentThreadId()`—the calling thread's id, its low 31 bits (siegel
/// only compares them).
///
/// # References
///
/// - <https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getcurrentthreadid>
pub(crate) fn gettid() -> i32 {
    // SAFETY:
    // - GetCurrentThreadId has no preconditions and cannot fail [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getcurrentthreadid
    let id = unsafe { GetCurrentThreadId() };
    i32::try_from(id & 0x7fff_ffff).unwrap_or(0)
}

/// `BCryptGenRandom(NULL, buf, len, BCRYPT_USE_SYSTEM_PREFERRED_RNG)`—fills
/// `buf` from the system's CSPRNG, in chunks of at most `u32::MAX` bytes.
///
/// (Rust's std reads randomness through `ProcessPrng`, which Wine 8 lacks;
/// `BCryptGenRandom` is on every Windows since Vista and in Wine.)
///
/// # Errors
///
/// `Other`, naming the `NTSTATUS`, if the generator fails.
///
/// # References
///
/// - <https://learn.microsoft.com/en-us/windows/win32/api/bcrypt/nf-bcrypt-bcryptgenrandom>
pub(crate) fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    failpoint!(Getrandom);
    for chunk in buf.chunks_mut(usize::try_from(u32::MAX).unwrap_or(usize::MAX)) {
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        // SAFETY:
        // - a null algorithm handle with BCRYPT_USE_SYSTEM_PREFERRED_RNG selects
        //   the system RNG [1]; `chunk` is valid and writable for `len` bytes.
        //
        // [1] https://learn.microsoft.com/en-us/windows/win32/api/bcrypt/nf-bcrypt-bcryptgenrandom
        let status = unsafe {
            BCryptGenRandom(
                core::ptr::null_mut(),
                chunk.as_mut_ptr(),
                len,
                BCRYPT_USE_SYSTEM_PREFERRED_RNG,
            )
        };
        if status != 0 {
            return Err(io::Error::other(format!("BCryptGenRandom failed: NTSTATUS {status:#x}")));
        }
    }
    Ok(())
}
