//! Memory: mappings, page protection, locking, advice, `memfd_secret`, and writes
//! through `/proc/self/mem`.

use std::{io, ptr::NonNull};

use libc::{c_int, c_long, c_void};

use super::{getpid, ret, ret_long};

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

/// Advice for [`madvise`].
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

impl Advice {
    fn raw(self) -> c_int {
        match self {
            Self::LinuxDontDump => libc::MADV_DONTDUMP,
            Self::LinuxDontFork => libc::MADV_DONTFORK,
            Self::LinuxWipeOnFork => libc::MADV_WIPEONFORK,
            Self::Random => libc::MADV_RANDOM,
        }
    }
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

/// `madvise(ptr, len, advice)`—sets a property of the pages.
///
/// # Safety
///
/// `ptr` must be page-aligned and `ptr..ptr + len` a range this crate mapped.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/madvise.2.html>
pub(crate) unsafe fn madvise(ptr: NonNull<u8>, len: usize, advice: Advice) -> io::Result<()> {
    failpoint!(Madvise);
    // SAFETY:
    // - the caller guarantees the range is ours and page-aligned; DONTDUMP,
    //   DONTFORK and WIPEONFORK change no contents in this process [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/madvise.2.html
    ret(unsafe { libc::madvise(ptr.as_ptr().cast::<c_void>(), len, advice.raw()) })
}

/// `memfd_secret(O_CLOEXEC)`—a file whose pages the kernel removes from its
/// direct map, so only processes that map it can reach the memory (Linux 5.14+;
/// on by default since 6.5, before that only with `secretmem.enable=1`).
///
/// # Errors
///
/// `ENOSYS` when the kernel lacks it or it is disabled.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/memfd_secret.2.html>
pub(crate) fn memfd_secret() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd as _;
    failpoint!(MemfdSecret);
    // SAFETY:
    // - SYS_memfd_secret takes (flags) and touches no memory of ours [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/memfd_secret.2.html
    let rc = unsafe { libc::syscall(libc::SYS_memfd_secret, c_long::from(libc::O_CLOEXEC)) };
    let fd =
        c_int::try_from(ret_long(rc)?).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY:
    // - `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// `ftruncate(fd, len)`—sets a file's size.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/ftruncate.2.html>
pub(crate) fn ftruncate(fd: std::os::fd::BorrowedFd<'_>, len: usize) -> io::Result<()> {
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
    fd: std::os::fd::BorrowedFd<'_>,
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

/// `/proc/self/mem`, opened once per process (`O_RDWR | O_CLOEXEC`): the
/// descriptor in the low 32 bits, the pid that opened it in the high 32 (a `fork`
/// child inherits the descriptor, which still reaches its parent's memory, so it
/// opens its own). `-1` in the low half: not open.
static PROC_MEM: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(u64::MAX);

/// This process's `/proc/self/mem` descriptor, opened on first use.
fn proc_mem_fd() -> io::Result<c_int> {
    use core::sync::atomic::Ordering;
    let pid = getpid();
    let packed = PROC_MEM.load(Ordering::Acquire);
    let (owner, fd) = (packed >> 32, packed & 0xffff_ffff);
    if owner == u64::from(pid) {
        return c_int::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData));
    }
    // SAFETY:
    // - the path is a NUL-terminated C string; open(2) touches no other memory [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/open.2.html
    let new = unsafe { libc::open(c"/proc/self/mem".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    let new_fd = u64::try_from(new).map_err(|_| io::Error::last_os_error())?;
    let wanted = (u64::from(pid) << 32) | new_fd;
    if PROC_MEM.compare_exchange(packed, wanted, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // Another thread opened it first; use theirs.
        // SAFETY:
        // - `new` was opened above and is owned by nobody else.
        unsafe { libc::close(new) };
        return proc_mem_fd();
    }
    if owner != u64::MAX >> 32 {
        // Inherited from the parent: close our copy of its descriptor.
        if let Ok(old) = c_int::try_from(fd) {
            // SAFETY:
            // - `old` is the inherited descriptor, which nothing else in this
            //   process uses once `PROC_MEM` no longer names it.
            unsafe { libc::close(old) };
        }
    }
    Ok(new)
}

/// `pwrite(open("/proc/self/mem"), buf, ptr)`—writes `buf` at `ptr` through the
/// kernel, whatever the pages' protection: the kernel writes with `FOLL_FORCE`,
/// so a sealed page receives the bytes without ever becoming accessible to any
/// thread. One system call.
///
/// # Safety
///
/// `ptr..ptr + buf.len()` must lie in a private anonymous mapping of this
/// crate, and no Rust reference may read or write those bytes concurrently (it
/// is a write behind the compiler's back, like a volatile store).
///
/// # Errors
///
/// `ENOENT`/`EACCES` without `/proc`; `EIO` for mappings the kernel refuses to
/// force-write (shared and `memfd_secret` mappings, or kernels booted with
/// `proc_mem.force_override=never`).
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man5/proc_pid_mem.5.html>
pub(crate) unsafe fn write_process_memory(ptr: NonNull<u8>, buf: &[u8]) -> io::Result<()> {
    failpoint!(ProcMemWrite);
    let fd = proc_mem_fd()?;
    let offset = libc::off64_t::try_from(ptr.as_ptr().addr())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY:
    // - `buf` is valid for `buf.len()` bytes; the caller guarantees the target range
    //   is ours and unreferenced [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/pwrite.2.html
    let n = unsafe { libc::pwrite64(fd, buf.as_ptr().cast::<c_void>(), buf.len(), offset) };
    match usize::try_from(n) {
        Ok(n) if n == buf.len() => Ok(()),
        Ok(_) => Err(io::Error::from(io::ErrorKind::WriteZero)),
        Err(_) => Err(io::Error::last_os_error()),
    }
}
