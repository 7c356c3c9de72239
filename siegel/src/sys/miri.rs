//! The syscall layer under Miri: a memory shim, compiled only with `cfg(miri)`
//! (never a backend a user can pick), with the signatures of the real wrappers
//! so that nothing above `sys` changes.
//!
//! Miri interprets Rust, not the kernel: it has no `mmap(PROT_NONE)`, no
//! `mprotect`, no protection keys, no signals and no `/proc`. So here:
//!
//! - a *mapping* is a page-aligned, zero-filled allocation from the Rust
//!   allocator (Miri tracks its bounds, provenance and lifetime exactly);
//!   `munmap` frees it, and only whole mappings can be unmapped;
//! - `mprotect`, `mlock` and `madvise` succeed, and `mprotect` *records* each
//!   page's protection in a table;
//! - protection keys and `memfd_secret` report `ENOSYS`, so the page
//!   protection path and anonymous memory run;
//! - `/proc/self/mem` writes ([`write_process_memory`]) are emulated: the bytes
//!   are copied in, whatever the recorded protection (what `FOLL_FORCE` does),
//!   after checking that the range lies inside one shim mapping. Set
//!   `SIEGEL_MIRI_PROC_MEM=unavailable` (`-Zmiri-env-set=…`) to report `ENOENT`
//!   instead, so the open–write–re-seal fallback runs;
//! - `getrandom`, `getpid`, `gettid`, `sysconf` and writes to standard error go
//!   to the real wrappers: Miri implements those calls;
//! - signal handlers are recorded, never run (Miri delivers no signals);
//!   `raise` of a fatal signal aborts;
//! - the thread list and `RLIMIT_MEMLOCK` are unavailable or unlimited.
//!
//! # What the shim checks
//!
//! Miri cannot see page protection: every access to a mapping is valid to it as
//! long as the allocation lives. The shim checks the protocol instead. Every
//! call on a mapping must name whole pages of one live shim mapping (a stray
//! `mprotect` or a partial `munmap` panics), and [`assert_accessible`] panics
//! unless the recorded protection of the pages in a range allows a read (or a
//! write). The typed layer calls it where it hands out `&T`/`&mut T`, and the
//! one wipe and the one copy call it before touching the pages, so a sealed page
//! touched without being opened fails the test under Miri as it would fault on
//! Linux.
//!
//! The table sits behind a `Mutex`, which Miri's data-race detector sees as a
//! synchronisation between any two threads calling into the shim (a real
//! `mprotect` is none). siegel serialises its own protection changes (the
//! entry's pages lock, an arena's meta lock), so the extra edges are between
//! calls that are already ordered; they could still hide a race between a raw
//! access and an `mprotect`/`pwrite` that siegel does not order itself.
//!
//! # Safety
//!
//! The `unsafe fn`s keep the contracts of the wrappers they stand for. The
//! memory they hand out is owned by the table until `munmap` frees it.

#![allow(
    clippy::unnecessary_wraps,
    reason = "each function keeps the signature of the real wrapper it stands for"
)]

use std::{
    alloc::{self, Layout},
    collections::BTreeMap,
    io,
    ptr::NonNull,
    sync::Mutex,
};

use libc::c_int;

pub(crate) use super::{
    mem::ProtFlags,
    os::{
        fault_pkey, getrandom, gettid, is_exhausted, PkeyRights, CAN_EXCLUDE_FROM_CORE_DUMPS,
        CAN_EXCLUDE_FROM_FORK, CAN_WRITE_BEHIND_SEAL, HAS_PROTECTION_KEYS, HAS_SECRET_MEMORY,
        SEGV_PKUERR,
    },
    proc::{at_fork, getpid, write_ignoring_errors, write_stderr},
    signal::{
        address_of, fault_addr, fault_code, forward, handler_of, is_default, is_handler,
        is_no_such_thread, is_queue_full, SigAction, SigInfo, SigInfoHandler, Signal, SIGABRT,
        SIGBUS, SIGFPE, SIGILL, SIGSEGV,
    },
    write_hex_stderr, Advice,
};

/// The largest mapping the shim hands out: larger requests fail with `ENOMEM`,
/// as an exhausted address space would (Miri would otherwise stop the program).
const MAX_MAPPING: usize = 1 << 30;

/// One shim mapping: its length and the protection `mprotect` last gave each
/// page.
struct Mapping {
    len: usize,
    prot: Vec<ProtFlags>,
}

/// Live mappings by start address. Addresses only: the memory itself is reached
/// through the pointers siegel holds, with their provenance.
static MAPPINGS: Mutex<BTreeMap<usize, Mapping>> = Mutex::new(BTreeMap::new());

/// Dispositions installed through the shim, per signal.
static ACTIONS: Mutex<Vec<(c_int, SigAction)>> = Mutex::new(Vec::new());

fn mappings() -> std::sync::MutexGuard<'static, BTreeMap<usize, Mapping>> {
    // A panic under the lock (a failed check) must not hide later checks.
    MAPPINGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn errno(code: c_int) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// Why [`find`] found no mapping for a range.
enum Miss {
    /// The range is in no shim mapping.
    Nowhere,
    /// The range starts in a mapping and runs past its end (or overflows).
    PastEnd,
}

/// The mapping holding `addr..addr + len` (`len > 0`), with its start.
fn find(
    maps: &mut BTreeMap<usize, Mapping>,
    addr: usize,
    len: usize,
) -> Result<(usize, &mut Mapping), Miss> {
    let (start, map) = maps.range_mut(..=addr).next_back().ok_or(Miss::Nowhere)?;
    let map_end = start + map.len;
    if addr >= map_end {
        Err(Miss::Nowhere)
    } else if addr.checked_add(len).is_some_and(|end| end <= map_end) {
        Ok((*start, map))
    } else {
        Err(Miss::PastEnd)
    }
}

/// What is wrong with `addr..addr + len`, for a panic message.
fn explain(miss: &Miss, addr: usize, len: usize) -> String {
    match miss {
        Miss::Nowhere => format!("{addr:#x} (+{len} bytes) is in no shim mapping"),
        Miss::PastEnd => format!("{addr:#x} + {len} bytes runs past the end of its shim mapping"),
    }
}

/// Pages `first..last` (exclusive) of the mapping at `start` that
/// `addr..addr + len` touches.
fn pages_of(start: usize, addr: usize, len: usize) -> core::ops::Range<usize> {
    let page = page_size();
    let first = (addr - start) / page;
    let last = (addr - start + len).div_ceil(page);
    first..last
}

/// Panics with a message naming the shim, the call and the problem: a protocol
/// violation that Linux would answer with `EINVAL`/`ENOMEM` or a fault.
#[track_caller]
fn violation(call: &str, problem: &str) -> ! {
    panic!("siegel (Miri shim): {call}: {problem}")
}

/// Checks that `ptr..ptr + len` is whole pages of one mapping and returns its
/// start and page range.
#[track_caller]
fn whole_pages(
    call: &str,
    maps: &mut BTreeMap<usize, Mapping>,
    ptr: NonNull<u8>,
    len: usize,
) -> (usize, core::ops::Range<usize>) {
    let addr = ptr.as_ptr().addr();
    if addr % page_size() != 0 {
        violation(call, &format!("{addr:#x} is not page-aligned"));
    }
    if len == 0 {
        violation(call, "empty range");
    }
    match find(maps, addr, len) {
        Ok((start, _)) => (start, pages_of(start, addr, len)),
        Err(miss) => violation(call, &explain(&miss, addr, len)),
    }
}

/// Panics unless the recorded protection of every page that `ptr..ptr + len`
/// touches allows a read (`write == false`) or a write: the check the typed
/// layer and the one wipe and copy make before touching a mapping under Miri,
/// where a sealed page does not fault. An empty range checks the byte below
/// `ptr` (an empty secret ends at the trailing guard page, and its scope must
/// still be open). Memory outside every shim mapping (the stack, the heap) has
/// no recorded protection and passes: Miri checks it as it checks any memory.
///
/// # Panics
///
/// If a page the range touches is sealed (`PROT_NONE`) or, for a write,
/// read-only, or the range starts in a shim mapping and runs past its end.
#[track_caller]
pub(crate) fn assert_accessible(ptr: NonNull<u8>, len: usize, write: bool) {
    let addr = ptr.as_ptr().addr();
    let mut maps = mappings();
    let (probe, probe_len) = if len == 0 { (addr.saturating_sub(1), 1) } else { (addr, len) };
    let (start, map) = match find(&mut maps, probe, probe_len) {
        Ok(found) => found,
        Err(Miss::Nowhere) => return,
        Err(miss) => violation("access", &explain(&miss, probe, probe_len)),
    };
    let wanted = if write { ProtFlags::READ_WRITE } else { ProtFlags::READ };
    for page in pages_of(start, probe, probe_len) {
        let prot = map.prot[page];
        if prot != ProtFlags::READ_WRITE && prot != wanted {
            let kind = if write { "write" } else { "read" };
            violation(
                "access",
                &format!(
                    "{kind} of {addr:#x}..{:#x}, but page {page} of the mapping at {start:#x} \
                     is {} (Linux would fault here)",
                    addr + len,
                    describe(prot)
                ),
            );
        }
    }
}

fn describe(prot: ProtFlags) -> &'static str {
    match prot {
        ProtFlags::NONE => "PROT_NONE",
        ProtFlags::READ => "PROT_READ",
        ProtFlags::READ_WRITE => "PROT_READ | PROT_WRITE",
        _ => "an unknown protection",
    }
}

/// The protection the shim recorded for the page holding `ptr` (`None`: not in
/// a shim mapping). For tests.
#[cfg(test)]
pub(crate) fn protection_at(ptr: NonNull<u8>) -> Option<ProtFlags> {
    let mut maps = mappings();
    let addr = ptr.as_ptr().addr();
    let (start, map) = find(&mut maps, addr, 1).ok()?;
    map.prot.get((addr - start) / page_size()).copied()
}

/// How many shim mappings are live. For tests.
#[cfg(test)]
pub(crate) fn live_mappings() -> usize {
    mappings().len()
}

/// The page size Miri reports (4096): through the real `sysconf` wrapper.
pub(crate) fn page_size() -> usize {
    super::mem::page_size()
}

/// `mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)`, emulated: a
/// zero-filled, page-aligned allocation of `len` bytes rounded up to pages,
/// every page recorded `PROT_NONE`.
///
/// # Errors
///
/// `EINVAL` for `len == 0`; `ENOMEM` above 1 GiB or when the allocator fails.
pub(crate) fn mmap_anonymous(len: usize) -> io::Result<NonNull<u8>> {
    let page = page_size();
    if len == 0 {
        return Err(errno(libc::EINVAL));
    }
    let len = len.checked_next_multiple_of(page).filter(|&l| l <= MAX_MAPPING);
    let layout = len.and_then(|l| Layout::from_size_align(l, page).ok());
    let Some(layout) = layout else { return Err(errno(libc::ENOMEM)) };
    // SAFETY:
    // - `layout` has a non-zero size (`len > 0`, rounded up to a page) [1].
    //
    // [1] https://doc.rust-lang.org/std/alloc/fn.alloc_zeroed.html
    let ptr = unsafe { alloc::alloc_zeroed(layout) };
    let ptr = NonNull::new(ptr).ok_or_else(|| errno(libc::ENOMEM))?;
    let pages = layout.size() / page;
    let old = mappings().insert(
        ptr.as_ptr().addr(),
        Mapping { len: layout.size(), prot: vec![ProtFlags::NONE; pages] },
    );
    assert!(old.is_none(), "siegel (Miri shim): the allocator returned a live mapping");
    Ok(ptr)
}

/// `munmap(ptr, len)`, emulated: frees a whole mapping.
///
/// # Safety
///
/// As the real `munmap`: `ptr` is what [`mmap_anonymous`] returned (with its
/// provenance) and no live reference points into the mapping.
///
/// # Panics
///
/// If `ptr..ptr + len` is not exactly one live shim mapping (the shim cannot
/// split allocations; siegel never unmaps part of a mapping).
pub(crate) unsafe fn munmap(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    let addr = ptr.as_ptr().addr();
    let mut maps = mappings();
    let map_len = match maps.get(&addr) {
        Some(map) if len.next_multiple_of(page_size()) == map.len => map.len,
        Some(map) => violation(
            "munmap",
            &format!("{len} bytes of the {}-byte mapping at {addr:#x}", map.len),
        ),
        None => violation("munmap", &format!("{addr:#x} does not start a shim mapping")),
    };
    maps.remove(&addr);
    drop(maps);
    let layout = Layout::from_size_align(map_len, page_size())
        .expect("siegel (Miri shim): the layout was valid when mapped");
    // SAFETY:
    // - the table held a mapping at `ptr` of `map_len` bytes, allocated by
    //   `mmap_anonymous` with exactly this layout and removed from the table
    //   above, so it is freed once; the caller passes the pointer
    //   `mmap_anonymous` returned and guarantees nothing references it [1].
    //
    // [1] https://doc.rust-lang.org/std/alloc/fn.dealloc.html
    unsafe { alloc::dealloc(ptr.as_ptr(), layout) };
    Ok(())
}

/// `mprotect(ptr, len, prot)`, emulated: records `prot` for every page.
///
/// # Safety
///
/// As the real `mprotect`. (The shim itself touches no memory.)
///
/// # Panics
///
/// If the range is not whole pages of one live shim mapping.
pub(crate) unsafe fn mprotect(ptr: NonNull<u8>, len: usize, prot: ProtFlags) -> io::Result<()> {
    let mut maps = mappings();
    let (start, pages) = whole_pages("mprotect", &mut maps, ptr, len);
    let map = maps.get_mut(&start).expect("found above");
    for page in pages {
        map.prot[page] = prot;
    }
    Ok(())
}

/// `mlock(ptr, len)`, emulated: succeeds.
///
/// # Safety
///
/// As the real `mlock`.
///
/// # Panics
///
/// If the range is not whole pages of one live shim mapping.
pub(crate) unsafe fn mlock(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    whole_pages("mlock", &mut mappings(), ptr, len);
    Ok(())
}

/// `madvise(ptr, len, advice)`, emulated: succeeds.
///
/// # Safety
///
/// As the real `madvise`.
///
/// # Panics
///
/// If the range is not whole pages of one live shim mapping.
pub(crate) unsafe fn madvise(ptr: NonNull<u8>, len: usize, _advice: Advice) -> io::Result<()> {
    whole_pages("madvise", &mut mappings(), ptr, len);
    Ok(())
}

/// `memfd_secret`: unavailable under Miri (`ENOSYS`), so regions use anonymous
/// memory.
///
/// # Errors
///
/// Always `ENOSYS`.
pub(crate) fn memfd_secret() -> io::Result<std::os::fd::OwnedFd> {
    Err(errno(libc::ENOSYS))
}

/// `ftruncate`: unreachable under Miri (no `memfd_secret` file exists).
///
/// # Errors
///
/// Always `EBADF`.
pub(crate) fn ftruncate(_fd: &super::SecretFile, _len: usize) -> io::Result<()> {
    Err(errno(libc::EBADF))
}

/// `mmap(MAP_SHARED | MAP_FIXED)`: unreachable under Miri (no `memfd_secret`).
///
/// # Safety
///
/// As the real `mmap_fixed_shared`.
///
/// # Errors
///
/// Always `ENOSYS`.
pub(crate) unsafe fn mmap_fixed_shared(
    _ptr: NonNull<u8>,
    _len: usize,
    _fd: &super::SecretFile,
) -> io::Result<()> {
    Err(errno(libc::ENOSYS))
}

/// `mmap(PROT_NONE, MAP_FIXED)` over pages of ours: recorded as inaccessible
/// (the shim's pages stay allocated; their contents are zeroed).
///
/// # Safety
///
/// As the real `mmap_fixed_inaccessible`.
///
/// # Errors
///
/// As [`mprotect`].
pub(crate) unsafe fn mmap_fixed_inaccessible(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    // SAFETY:
    // - forwarded from the caller.
    unsafe { mprotect(ptr, len, ProtFlags::NONE) }
}

/// Whether `SIEGEL_MIRI_PROC_MEM=unavailable` asks the shim to refuse
/// `/proc/self/mem` writes.
fn proc_mem_unavailable() -> bool {
    std::env::var_os("SIEGEL_MIRI_PROC_MEM").is_some_and(|v| v == "unavailable")
}

/// `pwrite(open("/proc/self/mem"), buf, ptr)`, emulated: copies `buf` to `ptr`
/// whatever the recorded protection, as the kernel's forced write does, leaving
/// the protection unchanged.
///
/// # Safety
///
/// As the real `write_process_memory`: the range lies in a mapping of ours and
/// no Rust reference reads or writes those bytes meanwhile (Miri checks the
/// latter: the copy is an ordinary write through `ptr`).
///
/// # Errors
///
/// `ENOENT` (no `/proc`) when `SIEGEL_MIRI_PROC_MEM=unavailable`.
///
/// # Panics
///
/// If the range is not inside one live shim mapping (the kernel would answer
/// `EIO`; siegel never writes anywhere else).
pub(crate) unsafe fn write_process_memory(ptr: NonNull<u8>, buf: &[u8]) -> io::Result<()> {
    if proc_mem_unavailable() {
        return Err(errno(libc::ENOENT));
    }
    if buf.is_empty() {
        return Ok(());
    }
    let addr = ptr.as_ptr().addr();
    if let Err(miss) = find(&mut mappings(), addr, buf.len()) {
        violation("write_process_memory", &explain(&miss, addr, buf.len()));
    }
    // SAFETY:
    // - `buf` is valid for reads of `buf.len()` bytes; `ptr..ptr + buf.len()` lies
    //   inside one live shim mapping (checked above), an allocation reached
    //   through the caller's pointer with its provenance;
    // - `buf` is not in a shim mapping's pages the caller passes (it is the
    //   caller's own buffer), so the ranges do not overlap; the caller
    //   guarantees no reference uses the target bytes [1].
    //
    // [1] https://doc.rust-lang.org/std/ptr/fn.copy_nonoverlapping.html
    unsafe { ptr.as_ptr().copy_from_nonoverlapping(buf.as_ptr(), buf.len()) };
    Ok(())
}

/// `zero_process_memory`, emulated: [`write_process_memory`] of zeros, a page
/// at a time.
///
/// # Safety
///
/// As [`write_process_memory`].
///
/// # Errors
///
/// As [`write_process_memory`].
pub(crate) unsafe fn zero_process_memory(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    static ZEROS: [u8; 4096] = [0; 4096];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(ZEROS.len());
        // SAFETY:
        // - `done + n <= len`: inside the caller's range.
        let at = unsafe { ptr.add(done) };
        // SAFETY:
        // - forwarded from the caller for this chunk.
        unsafe { write_process_memory(at, &ZEROS[..n]) }?;
        done += n;
    }
    Ok(())
}

/// `pkey_alloc`: unavailable under Miri (`ENOSYS`), so the PKU backend is never
/// chosen.
///
/// # Errors
///
/// Always `ENOSYS`.
pub(crate) fn pkey_alloc(_rights: PkeyRights) -> io::Result<u32> {
    Err(errno(libc::ENOSYS))
}

/// `pkey_free`: no key is ever allocated under Miri.
///
/// # Errors
///
/// Always `EINVAL`.
pub(crate) fn pkey_free(_key: u32) -> io::Result<()> {
    Err(errno(libc::EINVAL))
}

/// `pkey_mprotect`: unreachable under Miri (no key is ever allocated).
///
/// # Safety
///
/// As the real `pkey_mprotect`.
///
/// # Errors
///
/// Always `ENOSYS`.
pub(crate) unsafe fn pkey_mprotect(
    _ptr: NonNull<u8>,
    _len: usize,
    _prot: ProtFlags,
    _key: u32,
) -> io::Result<()> {
    Err(errno(libc::ENOSYS))
}

/// `getrlimit(RLIMIT_MEMLOCK)`: unlimited under Miri (`mlock` always succeeds).
///
/// # Errors
///
/// None.
pub(crate) fn getrlimit_memlock() -> io::Result<Option<u64>> {
    Ok(None)
}

/// The thread list: unavailable under Miri (no `/proc`). Only the PKU backend
/// asks.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn thread_ids() -> io::Result<Vec<i32>> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Whether thread `tid` still exists: unknown under Miri; only the PKU backend
/// asks.
pub(crate) fn thread_alive(_tid: i32) -> bool {
    false
}

fn actions() -> std::sync::MutexGuard<'static, Vec<(c_int, SigAction)>> {
    ACTIONS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `SIG_DFL` with an empty mask.
fn default_action() -> SigAction {
    // SAFETY:
    // - an all-zero `struct sigaction` is valid: SIG_DFL, empty mask, no flags.
    unsafe { core::mem::zeroed() }
}

/// Records `action` for `sig` and returns the previous one.
fn swap_action(sig: c_int, action: SigAction) -> SigAction {
    let mut all = actions();
    if let Some((_, slot)) = all.iter_mut().find(|(s, _)| *s == sig) {
        core::mem::replace(slot, action)
    } else {
        all.push((sig, action));
        default_action()
    }
}

/// As [`sigaction_install`], with `extra` flags.
///
/// # Safety
///
/// As the real `sigaction_install_with`.
///
/// # Errors
///
/// None.
pub(crate) unsafe fn sigaction_install_with(
    sig: c_int,
    handler: SigInfoHandler,
    extra: c_int,
) -> io::Result<SigAction> {
    let mut new = default_action();
    // An address without exposing provenance: the handler is never called
    // through it under Miri.
    #[allow(clippy::as_conversions, reason = "a function pointer has no `From` to a raw pointer")]
    let address = (handler as *const ()).addr();
    new.sa_sigaction = address;
    new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | extra;
    Ok(swap_action(sig, new))
}

/// `sigaction(sig, action, NULL)`, emulated: records `action`.
///
/// # Safety
///
/// As the real `sigaction_restore`.
///
/// # Errors
///
/// None.
pub(crate) unsafe fn sigaction_restore(sig: c_int, action: &SigAction) -> io::Result<()> {
    swap_action(sig, *action);
    Ok(())
}

/// `sigaction(sig, NULL, &current)`, emulated: the recorded disposition.
///
/// # Errors
///
/// None.
pub(crate) fn sigaction_query(sig: c_int) -> io::Result<SigAction> {
    Ok(actions().iter().find(|(s, _)| *s == sig).map_or_else(default_action, |(_, a)| *a))
}

/// `raise(sig)`: Miri delivers no signals, and siegel raises only fatal ones to
/// die by them, so the shim aborts.
pub(crate) fn raise(sig: c_int) {
    write_stderr(b"siegel (Miri shim): raise(");
    write_hex_stderr(u64::from(sig.unsigned_abs()));
    write_stderr(b"): no signals under Miri; aborting\n");
    std::process::abort();
}

/// The real-time signals of Linux/glibc (34..=64). Only the PKU backend asks.
pub(crate) fn realtime_signals() -> core::ops::RangeInclusive<c_int> {
    34..=64
}

/// A thread's blocked signals: unavailable under Miri (no `/proc`); only the
/// PKU backend asks.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn blocked_signals(_tid: i32) -> io::Result<u64> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// A thread's start time and state: unavailable under Miri (no `/proc`);
/// only the PKU backend asks.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn thread_stat(_tid: i32) -> io::Result<super::ThreadStat> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// A hook at thread exit: not under Miri (only the PKU backend asks, and Miri
/// has no keys).
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn call_at_thread_exit(_hook: fn()) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// A thread's name: unknown under Miri.
pub(crate) fn thread_name(_tid: i32) -> String {
    "?".to_owned()
}

/// Clock ticks per second: 100 under Miri; only the PKU backend asks.
pub(crate) fn ticks_per_second() -> u64 {
    100
}

/// Boot time in clock ticks: unknown under Miri (0); only the PKU backend asks.
pub(crate) fn boottime_ticks() -> u64 {
    0
}

/// `tgkill`: unavailable under Miri; only the PKU backend sends signals.
///
/// # Errors
///
/// Always `ENOSYS`.
pub(crate) fn tgkill(_tid: i32, _sig: c_int) -> io::Result<()> {
    Err(errno(libc::ENOSYS))
}

/// Whether a handler is recorded for `sig`.
pub(crate) fn handled(sig: Signal) -> bool {
    sigaction_query(sig).is_ok_and(|current| is_handler(&current))
}

/// Restores the default action and dies: under Miri, an abort.
pub(crate) fn die_by_default(sig: Signal) {
    swap_action(sig, default_action());
    raise(sig);
}

#[cfg(test)]
mod tests {
    //! The shim's own checks, and the protocol checked through the public API:
    //! whatever a guard hands out lies on pages whose recorded protection allows
    //! that access, and sealed handles leave their pages `PROT_NONE`.

    use super::*;
    use crate::{
        options::{Backend, Options},
        pool::Pool,
        protected::Protected,
    };

    fn at<T: ?Sized>(r: &T) -> NonNull<u8> {
        NonNull::from(r).cast()
    }

    /// A fresh shim mapping, unmapped on drop (also while a failed check
    /// unwinds, so the leak check stays quiet).
    struct Fresh(NonNull<u8>, usize);

    impl Fresh {
        fn new(len: usize) -> Self {
            Self(mmap_anonymous(len).expect("map"), len)
        }
    }

    impl Drop for Fresh {
        fn drop(&mut self) {
            // SAFETY:
            // - the whole mapping, from the pointer `mmap_anonymous` returned;
            //   nothing references it.
            unsafe { munmap(self.0, self.1) }.expect("munmap");
        }
    }

    #[test]
    fn mappings_are_zeroed_sealed_page_aligned_and_freed_on_unmap() {
        let before = live_mappings();
        let page = page_size();
        let ptr = mmap_anonymous(3 * page).expect("map");
        assert_eq!(ptr.as_ptr().addr() % page, 0);
        assert_eq!(live_mappings(), before + 1);
        assert_eq!(protection_at(ptr), Some(ProtFlags::NONE));
        // SAFETY:
        // - the middle page of our fresh mapping; nothing references it.
        unsafe { mprotect(ptr.map_addr(|a| a.saturating_add(page)), page, ProtFlags::READ) }
            .expect("mprotect");
        // SAFETY:
        // - `page < 3 * page`: inside the mapping.
        let middle = unsafe { ptr.add(page) };
        assert_eq!(protection_at(middle), Some(ProtFlags::READ));
        assert_accessible(middle, page, false);
        // SAFETY:
        // - `page - 1 < page`: the last byte of the middle page.
        let last = unsafe { middle.add(page - 1) };
        // SAFETY:
        // - the middle page was recorded readable; the allocation is zeroed.
        assert_eq!(unsafe { last.read() }, 0);
        // SAFETY:
        // - the whole mapping, from the pointer `mmap_anonymous` returned.
        unsafe { munmap(ptr, 3 * page) }.expect("munmap");
        assert_eq!(live_mappings(), before);
    }

    #[test]
    #[should_panic(expected = "Linux would fault here")]
    fn a_read_of_a_sealed_page_is_caught() {
        let map = Fresh::new(page_size());
        assert_accessible(map.0, 1, false);
    }

    #[test]
    #[should_panic(expected = "Linux would fault here")]
    fn a_write_to_a_read_only_page_is_caught() {
        let map = Fresh::new(page_size());
        // SAFETY:
        // - the whole fresh mapping; nothing references it.
        unsafe { mprotect(map.0, page_size(), ProtFlags::READ) }.expect("mprotect");
        assert_accessible(map.0, 1, true);
    }

    #[test]
    #[should_panic(expected = "is in no shim mapping")]
    fn an_mprotect_outside_the_shim_mappings_is_caught() {
        let page = page_size();
        let heap = Box::new([0u8; 8192]);
        let inside = NonNull::from(&*heap).cast::<u8>();
        let aligned = inside
            .map_addr(|a| a.saturating_add(page - 1))
            .map_addr(|a| core::num::NonZeroUsize::new(a.get() / page * page).expect("non-zero"));
        // SAFETY:
        // - the shim records protection only and touches no memory.
        let _ = unsafe { mprotect(aligned, page, ProtFlags::NONE) };
    }

    #[test]
    #[should_panic(expected = "of the")]
    fn a_partial_munmap_is_caught() {
        let map = Fresh::new(2 * page_size());
        // SAFETY:
        // - our mapping; the shim refuses before freeing anything.
        let _ = unsafe { munmap(map.0, page_size()) };
    }

    fn mprotect_options() -> Options {
        Options::new().backend(Backend::Mprotect)
    }

    #[test]
    fn guards_hand_out_only_pages_that_allow_the_access() {
        let mut secret =
            Protected::init_with_in(mprotect_options(), |s: &mut [u8; 48]| s.fill(3)).expect("new");
        let data = {
            let guard = secret.read().expect("read");
            assert_accessible(at(&*guard), 48, false);
            assert_eq!(protection_at(at(&*guard)), Some(ProtFlags::READ));
            at(&*guard)
        };
        assert_eq!(protection_at(data), Some(ProtFlags::NONE), "sealed after the scope");
        {
            let mut guard = secret.write().expect("write");
            guard[47] = 9;
            assert_accessible(at(&*guard), 48, true);
        }
        assert_eq!(protection_at(data), Some(ProtFlags::NONE));
        let open = secret.into_read_only().map_err(|e| e.into_parts().0).expect("open");
        assert_accessible(at(&*open), 48, false);
        let sealed = open.seal().map_err(|e| e.into_parts().0).expect("seal");
        assert_eq!(protection_at(data), Some(ProtFlags::NONE));
        drop(sealed);
        assert_eq!(protection_at(data), None, "unmapped on drop");
    }

    #[test]
    fn pooled_guards_open_only_their_page_and_seal_it_again() {
        let pool = Pool::with_options(mprotect_options());
        // 512-byte slots, 8 to a page: 12 secrets on both pages of one arena
        // (fewer secrets, larger, than small ones on as many pages: Miri's
        // clock pays per secret).
        let mut secrets: Vec<Protected<[u8; 400]>> = (0..12)
            .map(|i| {
                Protected::init_with_in(&pool, |s: &mut [u8; 400]| {
                    s.fill(u8::try_from(i % 251).expect("small"));
                })
                .expect("pooled")
            })
            .collect();
        let pages: std::collections::BTreeSet<usize> = secrets
            .iter()
            .map(|secret| secret.info().secret.start / crate::sys::page_size())
            .collect();
        assert_eq!(pages.len(), 2, "the secrets span both pages");
        for (i, secret) in secrets.iter_mut().enumerate() {
            let data = {
                let guard = secret.read().expect("read");
                assert_accessible(at(&*guard), 400, false);
                assert_eq!(guard[399], u8::try_from(i % 251).expect("small"));
                at(&*guard)
            };
            assert_eq!(data.as_ptr().addr(), secret.info().secret.start);
            assert_eq!(protection_at(data), Some(ProtFlags::NONE), "sealed between scopes");
            let mut guard = secret.write().expect("write");
            assert_accessible(at(&*guard), 400, true);
            guard[0] = 1;
        }
    }
}
