//! Linux implementation of the syscall layer.

use std::{io, ptr::NonNull};

use libc::{c_int, c_long, c_void};

/// Page protection flags passed to `mmap`, `mprotect` and `pkey_mprotect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProtFlags(c_int);

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
}

impl Advice {
    fn raw(self) -> c_int {
        match self {
            Self::LinuxDontDump => libc::MADV_DONTDUMP,
            Self::LinuxDontFork => libc::MADV_DONTFORK,
            Self::LinuxWipeOnFork => libc::MADV_WIPEONFORK,
        }
    }
}

/// Access rights a protection key grants the calling thread (`PKEY_DISABLE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PkeyRights(u32);

impl PkeyRights {
    /// `PKEY_DISABLE_ACCESS`: no loads or stores through the key.
    pub(crate) const DISABLE_ACCESS: Self = Self(0x1);
}

/// Maps a `0 / -1 + errno` return value to `io::Result`.
fn ret(rc: c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Maps a raw `syscall(2)` return value (`-1 + errno` on failure) to `io::Result`.
fn ret_long(rc: c_long) -> io::Result<c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
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
    // SAFETY:
    // - the caller guarantees the range is ours and page-aligned (see `# Safety`).
    ret(unsafe { libc::mprotect(ptr.as_ptr().cast::<c_void>(), len, prot.0) })
}

/// `pkey_alloc(0, rights)`—allocates a protection key; the calling thread gets
/// `rights` for it.
///
/// # Errors
///
/// `ENOSYS` (kernel without pkeys), `EINVAL` (CPU or kernel without pkeys), `ENOSPC`
/// (all keys taken).
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/pkey_alloc.2.html>
pub(crate) fn pkey_alloc(rights: PkeyRights) -> io::Result<u32> {
    // SAFETY:
    // - SYS_pkey_alloc takes (flags, access_rights) and touches no memory of ours [1];
    //   flags must be 0.
    //
    // [1] https://man7.org/linux/man-pages/man2/pkey_alloc.2.html
    let rc =
        unsafe { libc::syscall(libc::SYS_pkey_alloc, c_long::from(0u8), c_long::from(rights.0)) };
    let key = ret_long(rc)?;
    u32::try_from(key).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// `pkey_free(key)`—returns a protection key to the kernel.
///
/// Not `unsafe`: freeing a key cannot break memory safety. But pages still tagged
/// with `key` keep the tag, and a key allocated later with the same number would
/// govern them, so callers free a key only after unmapping its pages.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/pkey_free.2.html>
pub(crate) fn pkey_free(key: u32) -> io::Result<()> {
    // SAFETY:
    // - SYS_pkey_free takes (pkey) and touches no memory of ours [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/pkey_free.2.html
    let rc = unsafe { libc::syscall(libc::SYS_pkey_free, c_long::from(key)) };
    ret_long(rc).map(drop)
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
    // SAFETY:
    // - the caller guarantees the range is ours and page-aligned; DONTDUMP,
    //   DONTFORK and WIPEONFORK change no contents in this process [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/madvise.2.html
    ret(unsafe { libc::madvise(ptr.as_ptr().cast::<c_void>(), len, advice.raw()) })
}

/// `getrandom(buf, 0)`—fills `buf` from the kernel's CSPRNG.
///
/// # Errors
///
/// `ENOSYS` on kernels older than 3.17.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/getrandom.2.html>
pub(crate) fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        // SAFETY:
        // - `rest` is a valid, writable buffer of `rest.len()` bytes [1].
        //
        // [1] https://man7.org/linux/man-pages/man2/getrandom.2.html
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast::<c_void>(), rest.len(), 0) };
        if let Ok(n) = usize::try_from(n) {
            filled += n;
        } else {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
    Ok(())
}

/// `getrlimit(RLIMIT_MEMLOCK)`—the soft limit on locked memory, in bytes (`None`
/// when unlimited).
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/getrlimit.2.html>
pub(crate) fn getrlimit_memlock() -> io::Result<Option<u64>> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY:
    // - `lim` is a valid, writable `struct rlimit` [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/getrlimit.2.html
    ret(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &raw mut lim) })?;
    Ok((lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur))
}

/// `getpid()`—the calling process's id.
pub(crate) fn getpid() -> u32 {
    std::process::id()
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

/// A saved signal disposition, as `sigaction(2)` fills it.
pub(crate) type SigAction = libc::sigaction;

/// The signature of an `SA_SIGINFO` handler.
pub(crate) type SigInfoHandler = extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);

/// `sigaction(sig, {handler, SA_SIGINFO | SA_ONSTACK | SA_RESTART}, &old)`—installs
/// `handler` for `sig` and returns the previous disposition.
///
/// # Safety
///
/// `handler` must be async-signal-safe.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/sigaction.2.html>
pub(crate) unsafe fn sigaction_install(
    sig: c_int,
    handler: SigInfoHandler,
) -> io::Result<SigAction> {
    // SAFETY:
    // - the caller guarantees `handler` is async-signal-safe.
    unsafe { sigaction_install_with(sig, handler, libc::SA_ONSTACK) }
}

/// `sigaction(sig, {handler, SA_SIGINFO | SA_RESTART | extra}, &old)`: as
/// [`sigaction_install`], with `extra` flags instead of `SA_ONSTACK`. A handler
/// installed without `SA_ONSTACK` runs on the interrupted thread's own stack,
/// which is much larger than the alternate stack Rust gives each thread (a
/// signal frame with a full XSAVE area alone can take half of that).
///
/// # Safety
///
/// `handler` must be async-signal-safe.
pub(crate) unsafe fn sigaction_install_with(
    sig: c_int,
    handler: SigInfoHandler,
    extra: c_int,
) -> io::Result<SigAction> {
    // SAFETY:
    // - an all-zero `struct sigaction` is valid: no handler, empty mask, no flags.
    let mut new: SigAction = unsafe { core::mem::zeroed() };
    #[allow(clippy::as_conversions, reason = "sighandler_t is the handler's address")]
    let address = handler as usize;
    new.sa_sigaction = address;
    new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | extra;
    // SAFETY:
    // - as above, a zeroed `struct sigaction` is a valid out-parameter.
    let mut old: SigAction = unsafe { core::mem::zeroed() };
    // SAFETY:
    // - both structs are valid; the caller guarantees `handler` is
    //   async-signal-safe [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/sigaction.2.html
    ret(unsafe { libc::sigaction(sig, &raw const new, &raw mut old) })?;
    Ok(old)
}

/// `sigaction(sig, action, NULL)`—restores a saved disposition. Async-signal-safe.
///
/// # Safety
///
/// `action` must hold a disposition `sigaction` returned earlier (or `SIG_DFL`).
pub(crate) unsafe fn sigaction_restore(sig: c_int, action: &SigAction) -> io::Result<()> {
    // SAFETY:
    // - the caller guarantees `action` is a valid disposition; sigaction(2) is
    //   async-signal-safe [1].
    //
    // [1] https://man7.org/linux/man-pages/man7/signal-safety.7.html
    ret(unsafe { libc::sigaction(sig, action, core::ptr::null_mut()) })
}

/// `sigaction(sig, NULL, &current)`—the disposition installed now.
/// Async-signal-safe.
pub(crate) fn sigaction_query(sig: c_int) -> io::Result<SigAction> {
    // SAFETY:
    // - an all-zero `struct sigaction` is a valid out-parameter.
    let mut current: SigAction = unsafe { core::mem::zeroed() };
    // SAFETY:
    // - a NULL new action only queries; `current` is valid and writable [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/sigaction.2.html
    ret(unsafe { libc::sigaction(sig, core::ptr::null(), &raw mut current) })?;
    Ok(current)
}

/// `gettid()`—the calling thread's id. Async-signal-safe.
pub(crate) fn gettid() -> i32 {
    // SAFETY:
    // - gettid(2) has no preconditions and cannot fail [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/gettid.2.html
    unsafe { libc::gettid() }
}

/// `raise(sig)`—sends `sig` to the calling thread. Async-signal-safe.
pub(crate) fn raise(sig: c_int) {
    // SAFETY:
    // - raise(3) has no memory preconditions and is async-signal-safe [1].
    //
    // [1] https://man7.org/linux/man-pages/man7/signal-safety.7.html
    unsafe { libc::raise(sig) };
}

/// `write(fd, buf)`, ignoring the result. Async-signal-safe.
pub(crate) fn write_ignoring_errors(fd: c_int, buf: &[u8]) {
    // SAFETY:
    // - `buf` is valid for `buf.len()` bytes; write(2) is async-signal-safe [1].
    //
    // [1] https://man7.org/linux/man-pages/man7/signal-safety.7.html
    unsafe { libc::write(fd, buf.as_ptr().cast::<c_void>(), buf.len()) };
}

/// `mprotect(addr, len, prot)` for callers that hold the address as an integer
/// (the registry).
///
/// # Safety
///
/// As for [`mprotect`].
pub(crate) unsafe fn mprotect_at(addr: usize, len: usize, prot: ProtFlags) -> io::Result<()> {
    // SAFETY:
    // - the caller guarantees `addr..addr + len` is one of our page-aligned mappings
    //   and that the change strands no live reference.
    ret(unsafe {
        libc::mprotect(core::ptr::with_exposed_provenance_mut::<c_void>(addr), len, prot.0)
    })
}

/// `mprotect` for the fatal-signal path: raw, async-signal-safe, result ignored
/// but reported.
///
/// # Safety
///
/// As for [`mprotect`]; the process is about to die, so stranding references is
/// acceptable.
pub(crate) unsafe fn mprotect_raw(addr: usize, len: usize, prot: ProtFlags) -> bool {
    // SAFETY:
    // - the caller guarantees `addr..addr + len` is one of our mappings; mprotect(2)
    //   is async-signal-safe in practice (a plain system call).
    unsafe {
        libc::mprotect(core::ptr::with_exposed_provenance_mut::<c_void>(addr), len, prot.0) == 0
    }
}

/// `pkey_mprotect(addr, len, prot, key)`—changes the protection of whole pages
/// and tags them with protection key `key` (0: the default key). Takes the
/// address as an integer, as the registry holds it.
///
/// # Safety
///
/// As for [`mprotect`]; `key` must be 0 or a key this process allocated with
/// [`pkey_alloc`].
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/pkey_mprotect.2.html>
pub(crate) unsafe fn pkey_mprotect_at(
    addr: usize,
    len: usize,
    prot: ProtFlags,
    key: u32,
) -> io::Result<()> {
    // SAFETY:
    // - the caller guarantees the range is ours, page-aligned, and that the change
    //   strands no live reference; SYS_pkey_mprotect takes (addr, len, prot, pkey) [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/pkey_mprotect.2.html
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pkey_mprotect,
            core::ptr::with_exposed_provenance_mut::<c_void>(addr),
            len,
            c_long::from(prot.0),
            c_long::from(key),
        )
    };
    ret_long(rc).map(drop)
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

/// `pwrite(open("/proc/self/mem"), buf, addr)`—writes `buf` at `addr` through the
/// kernel, whatever the pages' protection: the kernel writes with `FOLL_FORCE`,
/// so a sealed page receives the bytes without ever becoming accessible to any
/// thread. One system call.
///
/// # Safety
///
/// `addr..addr + buf.len()` must lie in a private anonymous mapping of this
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
pub(crate) unsafe fn write_process_memory(addr: usize, buf: &[u8]) -> io::Result<()> {
    let fd = proc_mem_fd()?;
    let offset =
        libc::off64_t::try_from(addr).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
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

/// The real-time signal siegel reserves under the PKU backend to close a
/// protection key in other threads (see `region::pkru`): `SIGRTMAX - 6`, out of
/// the way of glibc (which takes the lowest real-time signals) and of programs
/// that count up from `SIGRTMIN`.
pub(crate) fn revoke_signal() -> c_int {
    libc::SIGRTMAX() - 6
}

/// `tgkill(getpid(), tid, sig)`—sends `sig` to one thread of this process.
///
/// # Errors
///
/// `ESRCH` if the thread has exited.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/tgkill.2.html>
pub(crate) fn tgkill(tid: i32, sig: c_int) -> io::Result<()> {
    let pid = i32::try_from(getpid()).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY:
    // - SYS_tgkill takes (tgid, tid, sig) and touches no memory of ours [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/tgkill.2.html
    let rc = unsafe {
        libc::syscall(libc::SYS_tgkill, c_long::from(pid), c_long::from(tid), c_long::from(sig))
    };
    ret_long(rc).map(drop)
}

/// The ids of this process's threads, from `/proc/self/task`.
///
/// # Errors
///
/// If `/proc` is not mounted.
pub(crate) fn thread_ids() -> io::Result<Vec<i32>> {
    let mut tids = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        if let Some(tid) = entry?.file_name().to_str().and_then(|name| name.parse().ok()) {
            tids.push(tid);
        }
    }
    Ok(tids)
}

/// Whether thread `tid` of this process still exists.
pub(crate) fn thread_alive(tid: i32) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}
