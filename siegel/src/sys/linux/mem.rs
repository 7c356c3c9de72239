//! Memory calls only Linux has: `madvise` with Linux's advice, `memfd_secret`,
//! and writes through `/proc/self/mem`.

use std::{io, ptr::NonNull};

use libc::{c_int, c_long, c_void};

use crate::sys::{getpid, ret, ret_long, Advice};

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

/// [`write_process_memory`] of `len` zero bytes at `ptr`: one `pwritev` of up
/// to 256 pages of zeros (1 MiB) per system call, where a `pwrite` per page of
/// zeros made a 1 MiB wipe 256 calls. The same forced write, the same errors.
///
/// # Safety
///
/// As [`write_process_memory`].
///
/// # Errors
///
/// As [`write_process_memory`]; bytes before the failing call are zero.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/pwritev.2.html>
pub(crate) unsafe fn zero_process_memory(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    static ZEROS: [u8; PAGE_OF_ZEROS] = [0; PAGE_OF_ZEROS];
    const PAGE_OF_ZEROS: usize = 4096;
    const PER_CALL: usize = 256;
    let iov = [libc::iovec {
        iov_base: ZEROS.as_ptr().cast_mut().cast::<c_void>(),
        iov_len: PAGE_OF_ZEROS,
    }; PER_CALL];
    let mut done = 0;
    while done < len {
        failpoint!(ProcMemWrite);
        let fd = proc_mem_fd()?;
        let n = (len - done).min(PER_CALL * PAGE_OF_ZEROS);
        let pages = n.div_ceil(PAGE_OF_ZEROS);
        let mut vecs = iov;
        vecs[pages - 1].iov_len = n - (pages - 1) * PAGE_OF_ZEROS;
        let count = c_int::try_from(pages).expect("at most 256");
        let offset = libc::off64_t::try_from(ptr.as_ptr().addr() + done)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY:
        // - the first `count` entries of `vecs` point into `ZEROS`, readable for
        //   their lengths (the kernel only reads them); the target range
        //   `ptr + done .. ptr + done + n` is inside the caller's, which the
        //   caller guarantees is ours and unreferenced [1].
        //
        // [1] https://man7.org/linux/man-pages/man2/pwritev.2.html
        let written = unsafe { libc::pwritev64(fd, vecs.as_ptr(), count, offset) };
        match usize::try_from(written) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(written) => done += written,
            Err(_) => return Err(io::Error::last_os_error()),
        }
    }
    Ok(())
}
