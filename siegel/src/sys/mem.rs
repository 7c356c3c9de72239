//! Memory, as POSIX spells it: mappings, page protection, locking, and the
//! advice siegel gives (each OS module maps [`Advice`](super::Advice) to its own calls).

use std::{io, ptr::NonNull};

use libc::{c_int, c_void};

use super::{ret, SecretFile};

/// Page protection flags passed to `mmap`, `mprotect` and `pkey_mprotect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProtFlags(pub(super) c_int);

impl ProtFlags {
    /// `PROT_NONE`: any access faults.
    pub(crate) const NONE: Self = Self(libc::PROT_NONE);
    /// `PROT_READ`: loads succeed, stores fault.
    pub(crate) const READ: Self = Self(libc::PROT_READ);
    /// `PROT_READ | PROT_WRITE`.
    pub(crate) const READ_WRITE: Self = Self(libc::PROT_READ | libc::PROT_WRITE);
}

/// The size of a page, from `sysconf(_SC_PAGESIZE)`.
pub(crate) fn page_size() -> usize {
    // SAFETY:
    // - `sysconf` has no preconditions; `_SC_PAGESIZE` is always supported on Linux [1].
    //
    // [1] https://man7.org/linux/man-pages/man3/sysconf.3.html
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// `mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)`—reserves `len`
/// bytes of fresh, zero-filled, inaccessible pages.
///
/// # Errors
///
/// `ENOMEM` when the address space or `vm.max_map_count` is exhausted.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/mmap.2.html>
pub(crate) fn mmap_anonymous(len: usize) -> io::Result<NonNull<u8>> {
    failpoint!(Mmap);
    // SAFETY:
    // - a NULL hint with no MAP_FIXED lets the kernel choose an unused range, so no
    //   existing mapping (or Rust object) is replaced [1];
    // - `fd == -1` and `offset == 0` are what MAP_ANONYMOUS requires [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/mmap.2.html
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::Other))
}

/// `munmap(ptr, len)`—removes the pages from the address space.
///
/// # Safety
///
/// `ptr..ptr + len` must be a range this crate mapped with [`mmap_anonymous`] and no
/// live Rust reference may point into it.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/munmap.2.html>
pub(crate) unsafe fn munmap(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    failpoint!(Munmap);
    // SAFETY:
    // - the caller guarantees the range is ours and unreferenced (see `# Safety`).
    ret(unsafe { libc::munmap(ptr.as_ptr().cast::<c_void>(), len) })
}

/// `mprotect(ptr, len, prot)`—changes the protection of whole pages.
///
/// # Safety
///
/// `ptr` must be page-aligned and `ptr..ptr + len` a range this crate mapped. Taking
/// access away must not invalidate a Rust reference still in use: a later access
/// through it would fault (which is sound but kills the process), so callers only
/// narrow protection when no guard is live.
///
/// # Errors
///
/// `ENOMEM` if splitting the mapping would exceed `vm.max_map_count`.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/mprotect.2.html>
pub(crate) unsafe fn mprotect(ptr: NonNull<u8>, len: usize, prot: ProtFlags) -> io::Result<()> {
    failpoint!(Mprotect);
    // SAFETY:
    // - the caller guarantees the range is ours and page-aligned (see `# Safety`).
    ret(unsafe { libc::mprotect(ptr.as_ptr().cast::<c_void>(), len, prot.0) })
}

/// `mlock(ptr, len)`—keeps the pages resident: never written to swap.
///
/// # Safety
///
/// `ptr..ptr + len` must be a range this crate mapped.
///
/// # Errors
///
/// `ENOMEM` or `EPERM` when `RLIMIT_MEMLOCK` would be exceeded.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/mlock.2.html>
pub(crate) unsafe fn mlock(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    failpoint!(Mlock);
    // SAFETY:
    // - the caller guarantees the range is ours; locking changes no contents.
    ret(unsafe { libc::mlock(ptr.as_ptr().cast::<c_void>(), len) })
}

/// `ftruncate(fd, len)`—sets a file's size.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/ftruncate.2.html>
pub(crate) fn ftruncate(fd: &SecretFile, len: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    failpoint!(Ftruncate);
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY:
    // - `fd` is a valid open descriptor for the duration of the call.
    ret(unsafe { libc::ftruncate(fd.as_raw_fd(), len) })
}

/// `mmap(ptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0)`—maps the
/// file `fd` over `ptr..ptr + len`, replacing what was there.
///
/// # Safety
///
/// `ptr..ptr + len` must be a page-aligned range this crate mapped and nothing
/// references: `MAP_FIXED` silently replaces it.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/mmap.2.html>
pub(crate) unsafe fn mmap_fixed_shared(
    ptr: NonNull<u8>,
    len: usize,
    fd: &SecretFile,
) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    failpoint!(MmapFixed);
    // SAFETY:
    // - the caller guarantees the range is ours and unreferenced, so MAP_FIXED
    //   replaces nothing else [1]; `fd` is open.
    //
    // [1] https://man7.org/linux/man-pages/man2/mmap.2.html
    let got = unsafe {
        libc::mmap(
            ptr.as_ptr().cast::<c_void>(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd.as_raw_fd(),
            0,
        )
    };
    if got == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `mmap(ptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)`—
/// replaces `ptr..ptr + len` with fresh inaccessible pages: the old pages and
/// their contents are gone from this address space. Replacing a whole kernel
/// mapping needs no new one, so this works where a protection change that
/// must split a mapping fails at `vm.max_map_count`.
///
/// # Safety
///
/// As [`mmap_fixed_shared`].
pub(crate) unsafe fn mmap_fixed_inaccessible(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    failpoint!(MmapFixed);
    // SAFETY:
    // - the caller guarantees the range is ours and unreferenced, so MAP_FIXED
    //   replaces nothing else [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/mmap.2.html
    let got = unsafe {
        libc::mmap(
            ptr.as_ptr().cast::<c_void>(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    if got == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
