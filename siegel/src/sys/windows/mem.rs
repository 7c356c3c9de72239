//! Memory, as Windows spells it: `VirtualAlloc` (reserve and commit),
//! `VirtualProtect`, `VirtualLock` (growing the working set when its quota is
//! the limit), `VirtualFree`.

use core::ffi::c_void;
use std::{io, ptr::NonNull};

use windows_sys::Win32::{
    Foundation::ERROR_WORKING_SET_QUOTA,
    System::{
        Memory::{
            VirtualAlloc, VirtualFree, VirtualLock, VirtualProtect, MEM_COMMIT, MEM_DECOMMIT,
            MEM_RELEASE, MEM_RESERVE, PAGE_NOACCESS, PAGE_PROTECTION_FLAGS, PAGE_READONLY,
            PAGE_READWRITE,
        },
        SystemInformation::{GetSystemInfo, SYSTEM_INFO},
        Threading::{GetCurrentProcess, GetProcessWorkingSetSize, SetProcessWorkingSetSize},
    },
};

use super::SecretFile;
use crate::sys::ProtectCall;

/// Page protection flags passed to `VirtualAlloc` and `VirtualProtect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProtFlags(PAGE_PROTECTION_FLAGS);

impl ProtFlags {
    /// `PAGE_NOACCESS`: any access faults.
    pub(crate) const NONE: Self = Self(PAGE_NOACCESS);
    /// `PAGE_READONLY`: loads succeed, stores fault.
    pub(crate) const READ: Self = Self(PAGE_READONLY);
    /// `PAGE_READWRITE`.
    pub(crate) const READ_WRITE: Self = Self(PAGE_READWRITE);
}

/// Maps a `BOOL` return value (0 on failure, `GetLastError` set) to
/// `io::Result`.
fn ret(ok: windows_sys::core::BOOL) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The size of a page, from `GetSystemInfo` (`dwPageSize`).
pub(crate) fn page_size() -> usize {
    // SAFETY:
    // - an all-zero SYSTEM_INFO is a valid out-parameter (plain integers and
    //   pointers).
    let mut info: SYSTEM_INFO = unsafe { core::mem::zeroed() };
    // SAFETY:
    // - `info` is a valid, writable SYSTEM_INFO; the call cannot fail [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/sysinfoapi/nf-sysinfoapi-getsysteminfo
    unsafe { GetSystemInfo(&raw mut info) };
    usize::try_from(info.dwPageSize).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// `VirtualAlloc(NULL, len, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS)`—reserves
/// and commits `len` bytes of fresh, zero-filled, inaccessible pages.
///
/// # Errors
///
/// `ERROR_NOT_ENOUGH_MEMORY` or `ERROR_COMMITMENT_LIMIT` when the address
/// space or the commit limit is exhausted.
///
/// # References
///
/// - <https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualalloc>
pub(crate) fn mmap_anonymous(len: usize) -> io::Result<NonNull<u8>> {
    failpoint!(Mmap);
    // SAFETY:
    // - a NULL address lets the system choose an unused range, so no existing
    //   allocation (or Rust object) is touched [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualalloc
    let ptr =
        unsafe { VirtualAlloc(core::ptr::null(), len, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS) };
    NonNull::new(ptr.cast::<u8>()).ok_or_else(io::Error::last_os_error)
}

/// `VirtualFree(ptr, 0, MEM_RELEASE)`—releases a whole allocation.
///
/// # Safety
///
/// `ptr` must be the start of an allocation this crate made with
/// [`mmap_anonymous`], `len` its length (a release is always whole), and no
/// live Rust reference may point into it.
///
/// # References
///
/// - <https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualfree>
pub(crate) unsafe fn munmap(ptr: NonNull<u8>, _len: usize) -> io::Result<()> {
    failpoint!(Munmap);
    // SAFETY:
    // - the caller guarantees `ptr` is the base of our unreferenced allocation;
    //   MEM_RELEASE requires size 0 [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualfree
    ret(unsafe { VirtualFree(ptr.as_ptr().cast::<c_void>(), 0, MEM_RELEASE) })
}

/// `VirtualProtect(ptr, len, prot, &old)`—changes the protection of whole
/// pages.
///
/// # Safety
///
/// `ptr` must be page-aligned and `ptr..ptr + len` lie in one allocation this
/// crate made. Taking access away must not invalidate a Rust reference still
/// in use (callers only narrow protection when no guard is live).
///
/// # References
///
/// - <https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualprotect>
pub(crate) unsafe fn mprotect(ptr: NonNull<u8>, len: usize, prot: ProtFlags) -> io::Result<()> {
    failpoint!(Mprotect);
    let mut old: PAGE_PROTECTION_FLAGS = 0;
    // SAFETY:
    // - the caller guarantees the range is ours and page-aligned; `old` is a
    //   valid out-parameter, which the call requires [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualprotect
    ret(unsafe { VirtualProtect(ptr.as_ptr().cast::<c_void>(), len, prot.0, &raw mut old) })
}

/// `VirtualLock(ptr, len)`—keeps the pages in the working set: never written
/// to the page file while the process runs.
///
/// Windows limits locked pages by the process's *minimum working-set size*
/// (about 200 KiB by default), not by a resource limit. When `VirtualLock`
/// fails with `ERROR_WORKING_SET_QUOTA`, this grows the minimum and maximum
/// working-set size by `len` (`SetProcessWorkingSetSize`, which an
/// unprivileged process may do: `SeIncreaseWorkingSetPrivilege` is granted to
/// every user by default) and tries once more.
///
/// # Safety
///
/// `ptr..ptr + len` must be a range this crate mapped, readable or writable
/// (`PAGE_NOACCESS` pages cannot be locked).
///
/// # Errors
///
/// `ERROR_WORKING_SET_QUOTA` when the working set cannot grow enough.
///
/// # References
///
/// - <https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtuallock>
/// - <https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-setprocessworkingsetsize>
pub(crate) unsafe fn mlock(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    failpoint!(Mlock);
    // SAFETY:
    // - the caller guarantees the range is ours and accessible; locking changes
    //   no contents [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtuallock
    let first = ret(unsafe { VirtualLock(ptr.as_ptr().cast::<c_void>(), len) });
    let Err(err) = first else { return Ok(()) };
    if err.raw_os_error() != i32::try_from(ERROR_WORKING_SET_QUOTA).ok() {
        return Err(err);
    }
    let (min, max) = grown_working_set(working_set_size()?, len, page_size());
    let process = current_process();
    // SAFETY:
    // - the pseudo handle of GetCurrentProcess has PROCESS_SET_QUOTA [1]; the
    //   sizes are byte counts (no memory is passed).
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-setprocessworkingsetsize
    ret(unsafe { SetProcessWorkingSetSize(process, min, max) }).map_err(|_| err)?;
    // SAFETY:
    // - as the first call.
    ret(unsafe { VirtualLock(ptr.as_ptr().cast::<c_void>(), len) })
}

/// The working-set sizes that make room to lock `len` more bytes, from the
/// current `(minimum, maximum)`: both grow by `len` plus four pages (`page`
/// bytes each) of slack for the pages Windows keeps out of a lock's reach, so
/// the gap between them stays as it was. Saturates at `usize::MAX`.
fn grown_working_set((min, max): (usize, usize), len: usize, page: usize) -> (usize, usize) {
    let grow = len.saturating_add(page.saturating_mul(4));
    (min.saturating_add(grow), max.saturating_add(grow))
}

/// `GetProcessWorkingSetSize(GetCurrentProcess())`—the minimum and maximum
/// working-set size in bytes: the minimum bounds what [`mlock`] can lock.
///
/// # References
///
/// - <https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-getprocessworkingsetsize>
pub(crate) fn working_set_size() -> io::Result<(usize, usize)> {
    let (mut min, mut max) = (0usize, 0usize);
    let process = current_process();
    // SAFETY:
    // - the pseudo handle of GetCurrentProcess has PROCESS_QUERY_INFORMATION;
    //   `min` and `max` are valid, writable SIZE_Ts [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-getprocessworkingsetsize
    ret(unsafe { GetProcessWorkingSetSize(process, &raw mut min, &raw mut max) })?;
    Ok((min, max))
}

/// `GetCurrentProcess()`—the pseudo handle of this process (full access,
/// never closed).
fn current_process() -> windows_sys::Win32::Foundation::HANDLE {
    // SAFETY:
    // - GetCurrentProcess has no preconditions and cannot fail [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getcurrentprocess
    unsafe { GetCurrentProcess() }
}

/// `ftruncate`: unreachable (no [`SecretFile`] exists on Windows).
///
/// # Errors
///
/// None: there is no file to size.
pub(crate) fn ftruncate(fd: &SecretFile, _len: usize) -> io::Result<()> {
    match *fd {}
}

/// `mmap(MAP_SHARED | MAP_FIXED)` of a [`SecretFile`]: unreachable (none exists
/// on Windows).
///
/// # Safety
///
/// None: there is no file to map.
pub(crate) unsafe fn mmap_fixed_shared(
    _ptr: NonNull<u8>,
    _len: usize,
    fd: &SecretFile,
) -> io::Result<()> {
    match *fd {}
}

/// `VirtualFree(ptr, len, MEM_DECOMMIT)` then `VirtualAlloc(ptr, len,
/// MEM_COMMIT, PAGE_NOACCESS)`—replaces `ptr..ptr + len` with fresh, zero-filled,
/// inaccessible pages: the old pages and their contents are gone (the POSIX
/// modules' `MAP_FIXED` remap).
///
/// # Safety
///
/// `ptr..ptr + len` must be a page-aligned range inside an allocation of this
/// crate that nothing references.
///
/// # References
///
/// - <https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualfree>
pub(crate) unsafe fn mmap_fixed_inaccessible(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    failpoint!(MmapFixed);
    // SAFETY:
    // - the caller guarantees the range is ours, page-aligned and unreferenced;
    //   MEM_DECOMMIT takes a sub-range of a committed allocation [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualfree
    ret(unsafe { VirtualFree(ptr.as_ptr().cast::<c_void>(), len, MEM_DECOMMIT) })?;
    // SAFETY:
    // - recommits the same reserved range, which nothing else owns [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualalloc
    let got =
        unsafe { VirtualAlloc(ptr.as_ptr().cast::<c_void>(), len, MEM_COMMIT, PAGE_NOACCESS) };
    if got.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether a failed `call` ran out of kernel mappings: never on Windows, whose
/// protection changes need no entry in a bounded table (there is no
/// `vm.max_map_count`).
pub(crate) fn is_out_of_mappings(_call: ProtectCall, _err: &io::Error) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::grown_working_set;

    #[test]
    fn the_working_set_grows_by_the_lock_and_four_pages_of_slack() {
        // Windows' defaults: 50 and 345 pages of 4 KiB.
        let (min, max) = (50 * 4096, 345 * 4096);
        assert_eq!(
            grown_working_set((min, max), 3 * 4096, 4096),
            (min + 7 * 4096, max + 7 * 4096),
            "the lock's pages plus four, on both bounds"
        );
        let (grown_min, grown_max) = grown_working_set((min, max), 1 << 20, 4096);
        assert_eq!(grown_max - grown_min, max - min, "the gap stays");
        assert!(grown_min - min >= 1 << 20, "room for the whole lock");
        assert_eq!(
            grown_working_set((usize::MAX - 1, usize::MAX), 4096, 4096),
            (usize::MAX, usize::MAX)
        );
        assert_eq!(grown_working_set((min, max), usize::MAX, 4096), (usize::MAX, usize::MAX));
    }
}
