//! The region core: one guarded mapping per secret, and the open counts that decide
//! when its pages (or its protection key) are open.
//!
//! ```text
//!  map                data_pages                                 map + map_len
//!  |                  |                                                     |
//!  v                  v                                                     v
//!  +------------------+----------------------------------------+------------+
//!  | guard (PROT_NONE)| zero fill ... | canary (16 B) | secret | guard      |
//!  +------------------+----------------------------------------+------------+
//!                      \___________ mlocked, DONTDUMP, DONTFORK ___________/
//! ```
//!
//! The secret ends exactly at the trailing guard page, so a one-byte overflow faults.
//! A one-byte underflow lands in the canary — 16 random bytes per region, with the
//! reference copy kept outside the data pages — checked on every open; reaching
//! past the data pages downwards faults on the leading guard.
//!
//! # Safety
//!
//! Invariants the typed layer (`protected.rs`) relies on:
//!
//! - `data..data + data_len` lies inside the mapping, is aligned for the secret's
//!   type (it ends on a page boundary and `data_len` is a multiple of the alignment,
//!   which is at most a page), and was zero-filled by `mmap`.
//! - While an [`Access`] is counted open (in this thread for a protection key,
//!   process-wide for page protection), the data pages allow that access. A
//!   region's key changes only under its slot's maintenance lock, which no open
//!   scope allows.
//! - Keys are used only after `pkey_alloc` succeeded, which proves the kernel set
//!   CR4.PKE, so `RDPKRU`/`WRPKRU` cannot raise #UD.

#![allow(unsafe_code)]

mod pkru;
mod pool;
mod slot;
mod store;

use core::{
    ptr::NonNull,
    sync::atomic::{compiler_fence, AtomicU32, Ordering},
};
use std::sync::{Mutex, MutexGuard};

pub(crate) use self::slot::wipe_all_for_crash;
pub(crate) use self::store::Store;
pub use self::{
    pkru::seal_thread,
    pool::Pool,
    slot::{lockdown, Lockdown},
};
use self::{pkru::LIVE_KEYS, slot::Slot};
use crate::{
    backend::{KeyExhaustion, Mechanism, Memory, MemoryPolicy, MlockPolicy, Options},
    sys::{self, Advice, PkeyRights, ProtFlags},
    Error,
};

/// Length of the canary just below the secret.
pub(crate) const CANARY_LEN: usize = 16;

/// The kind of access a scope or handle holds open.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Loads only.
    Read,
    /// Loads and stores.
    Write,
}

/// How many read and write scopes hold a region open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    reads: u32,
    writes: u32,
}

impl Counts {
    const ZERO: Self = Self { reads: 0, writes: 0 };

    fn add(self, access: Access) -> Self {
        let bump = |n: u32| n.checked_add(1).expect("siegel: more than u32::MAX open scopes");
        match access {
            Access::Read => Self { reads: bump(self.reads), ..self },
            Access::Write => Self { writes: bump(self.writes), ..self },
        }
    }

    fn sub(self, access: Access) -> Self {
        match access {
            Access::Read => Self { reads: self.reads.saturating_sub(1), ..self },
            Access::Write => Self { writes: self.writes.saturating_sub(1), ..self },
        }
    }

    /// These counts less `other` (scopes given back at once).
    fn minus(self, other: Self) -> Self {
        Self {
            reads: self.reads.saturating_sub(other.reads),
            writes: self.writes.saturating_sub(other.writes),
        }
    }

    /// All scopes counted.
    fn total(self) -> u32 {
        self.reads.saturating_add(self.writes)
    }

    fn prot(self) -> ProtFlags {
        if self.writes > 0 {
            ProtFlags::READ_WRITE
        } else if self.reads > 0 {
            ProtFlags::READ
        } else {
            ProtFlags::NONE
        }
    }

    /// The two PKRU bits (WD, AD) for these counts.
    fn pkru_bits(self) -> u32 {
        const AD: u32 = 0b01;
        const WD: u32 = 0b10;
        if self.writes > 0 {
            0
        } else if self.reads > 0 {
            WD
        } else {
            AD | WD
        }
    }
}

/// Locks `mutex`, ignoring poisoning: a panic while holding one of our locks
/// cannot leave the plain data behind it half-written.
#[inline]
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Overwrites `addr..addr + len` (page-aligned, writable) with zeros using volatile
/// stores the compiler cannot drop. Async-signal-safe.
fn wipe_range(addr: usize, len: usize) {
    let base = core::ptr::with_exposed_provenance_mut::<u64>(addr);
    for i in 0..len / core::mem::size_of::<u64>() {
        // SAFETY:
        // - callers pass the data pages of a live region (exposed when the slot was
        //   published), made writable for this thread; `i` stays inside them, and a
        //   page boundary is aligned for `u64`. Volatile: the stores must not be
        //   elided as dead before `munmap`.
        unsafe { base.wrapping_add(i).write_volatile(0) };
    }
    compiler_fence(Ordering::SeqCst);
}

/// The error for a failed protection change or `madvise`: `ENOMEM` (`EAGAIN` from
/// `madvise`, which reports a failed split that way) means the change needed a
/// new kernel mapping and `vm.max_map_count` is reached, which [`Error::Map`]
/// names with its fix; anything else is [`Error::Protect`].
pub(crate) fn protect_error(call: &'static str, source: std::io::Error) -> Error {
    let errno = source.raw_os_error();
    if errno == Some(libc::ENOMEM) || (call == "madvise" && errno == Some(libc::EAGAIN)) {
        Error::Map { len: 0, source }
    } else {
        Error::Protect { call, source }
    }
}

/// `N` random bytes, none of them zero: a canary made of them changes under any
/// write of a zero byte (the most common one-byte overflow: a NUL terminator, a
/// zeroed struct, `memset(.., 0, n + 1)`). Each byte is uniform over 1..=255 up to
/// a bias of under 1/128 (`b % 255 + 1`).
pub(crate) fn nonzero_random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    sys::getrandom(&mut bytes).map_err(|source| Error::Random { source })?;
    for b in &mut bytes {
        *b = *b % 255 + 1;
    }
    Ok(bytes)
}

/// Copies `len` bytes between two open secrets in different mappings.
fn copy_open(src: NonNull<u8>, dest: NonNull<u8>, len: usize) {
    // SAFETY:
    // - the caller opened `src` for reading and `dest` for writing, `len` bytes
    //   each, in different regions or slots, so they cannot overlap.
    unsafe { dest.copy_from_nonoverlapping(src, len) };
}

impl core::fmt::Debug for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region").field("mechanism", &self.mechanism()).finish_non_exhaustive()
    }
}

/// A mapping that is unmapped on drop; keeps error paths in [`Region::new`] short.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Unmaps now (idempotent).
    fn unmap(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY:
        // - `ptr..ptr + len` was returned by `mmap_anonymous` and no reference into it
        //   escaped (the region is still being built, or is being destroyed).
        let _ = unsafe { sys::munmap(self.ptr, self.len) };
        self.len = 0;
    }

    /// Forgets the mapping without unmapping it (in a `fork` child, where it is
    /// absent and the address may since belong to someone else).
    fn forget(&mut self) {
        self.len = 0;
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.unmap();
    }
}

/// One guarded mapping holding one secret.
pub(crate) struct Region {
    map: Mapping,
    data_pages: NonNull<u8>,
    data_pages_len: usize,
    data: NonNull<u8>,
    data_len: usize,
    slot: &'static Slot,
    options: Options,
    memory: Memory,
    locked: bool,
    owner_pid: u32,
}

// SAFETY:
// - the pointers refer to a mapping the `Region` owns exclusively; moving the owner
//   to another thread moves that ownership;
// - a sealed region holds no thread-specific state (`held == None`, no PKRU bits
//   open); the typed layer keeps handles that hold access `!Send`.
unsafe impl Send for Region {}

// SAFETY:
// - shared (`&Region`) methods mutate only the slot (atomics and a `Mutex`) and
//   the thread-local PKRU counts; the secret bytes themselves are reached only
//   through the typed layer, whose write access requires `&mut`.
unsafe impl Sync for Region {}

/// Where the data pages came from, before protection is applied.
struct Pages {
    memory: Memory,
    locked: bool,
}

impl Region {
    /// Maps a new, sealed region for `data_len` bytes aligned to `align`.
    pub(crate) fn new(data_len: usize, align: usize, options: Options) -> Result<Self, Error> {
        Self::build(data_len, align, options, false)
    }

    /// Maps a new, sealed region whose pages each stay a kernel mapping of their
    /// own (a pool arena): neighbouring pages differ in one per-mapping flag, so
    /// the kernel never merges them, and a later protection change on one page
    /// never needs to split a mapping — it cannot fail at `vm.max_map_count`. Costs
    /// one map entry per page (18 for an arena) instead of three.
    pub(crate) fn new_arena(
        data_len: usize,
        align: usize,
        options: Options,
    ) -> Result<Self, Error> {
        Self::build(data_len, align, options, true)
    }

    fn build(
        data_len: usize,
        align: usize,
        options: Options,
        separate_pages: bool,
    ) -> Result<Self, Error> {
        let page = sys::page_size();
        if align > page {
            return Err(Error::AlignmentTooLarge { align, page });
        }
        let too_large = || Error::TooLarge { len: data_len };
        let data_pages_len = data_len
            .checked_add(CANARY_LEN)
            .and_then(|n| n.checked_next_multiple_of(page))
            .ok_or_else(too_large)?;
        let map_len = data_pages_len.checked_add(2 * page).ok_or_else(too_large)?;
        let use_pku = options.wants_pku()?;
        let canary = nonzero_random::<CANARY_LEN>()?;

        let ptr =
            sys::mmap_anonymous(map_len).map_err(|source| Error::Map { len: map_len, source })?;
        let map = Mapping { ptr, len: map_len };
        // SAFETY:
        // - `page < map_len`, so the offset stays inside the mapping [1].
        //
        // [1] https://doc.rust-lang.org/std/ptr/struct.NonNull.html#method.add
        let data_pages = unsafe { ptr.add(page) };
        let pages = match Self::back_pages(data_pages, data_pages_len, options) {
            Ok(pages) => pages,
            // A failed MAP_FIXED may have unmapped the range: start again, anonymous.
            Err(_) if options.memory == MemoryPolicy::PreferSecret => {
                drop(map);
                return Self::build(
                    data_len,
                    align,
                    options.memory(MemoryPolicy::Anonymous),
                    separate_pages,
                );
            }
            Err(err) => return Err(err),
        };
        let protect = |call| move |source| protect_error(call, source);
        for advice in [Advice::LinuxDontDump, Advice::LinuxDontFork] {
            // SAFETY:
            // - the whole mapping is ours and page-aligned; neither advice changes
            //   contents in this process.
            unsafe { sys::madvise(ptr, map_len, advice) }.map_err(protect("madvise"))?;
        }
        if separate_pages && pages.memory == Memory::Anonymous {
            // Every other page of the mapping (guards included) gets a flag its
            // neighbours lack, so no two adjacent pages can share a kernel mapping.
            for offset in (0..map_len).step_by(2 * page) {
                // SAFETY:
                // - `offset < map_len`: the page lies inside the mapping.
                let at = unsafe { ptr.add(offset) };
                // SAFETY:
                // - one whole page of our mapping; WIPEONFORK changes no contents in
                //   this process (and the pages are DONTFORK anyway).
                unsafe { sys::madvise(at, page, Advice::LinuxWipeOnFork) }
                    .map_err(protect("madvise"))?;
            }
        }

        let data_offset = data_pages_len - data_len;
        // SAFETY:
        // - `data_offset <= data_pages_len`: the pointer stays inside the data pages.
        let data = unsafe { data_pages.add(data_offset) };
        // SAFETY:
        // - `CANARY_LEN <= data_offset` by construction of `data_pages_len`, so the
        //   canary lies inside the data pages, which are writable now.
        let canary_ptr = unsafe { data.sub(CANARY_LEN) };
        // SAFETY:
        // - source and destination are valid for `CANARY_LEN` bytes and cannot
        //   overlap (one is on the stack, the other in our fresh mapping).
        unsafe { canary_ptr.copy_from_nonoverlapping(NonNull::from(&canary).cast(), CANARY_LEN) };

        let slot = Slot::acquire();
        let region = Self {
            map,
            data_pages,
            data_pages_len,
            data,
            data_len,
            slot,
            options,
            memory: pages.memory,
            locked: pages.locked,
            owner_pid: sys::getpid(),
        };
        let pages_addr = data_pages.as_ptr().expose_provenance();
        let key = if use_pku {
            obtain_key(slot, pages_addr, data_pages_len, options.keys_exhausted)?
        } else {
            None
        };
        if key.is_none() {
            // SAFETY:
            // - the data pages are ours and page-aligned; nothing references them.
            unsafe { sys::mprotect(data_pages, data_pages_len, ProtFlags::NONE) }
                .map_err(protect("mprotect"))?;
        }
        let wants_key = use_pku && options.keys_exhausted == KeyExhaustion::Virtualize;
        let words = |half: &[u8]| u64::from_ne_bytes(half.try_into().expect("8 bytes"));
        slot.publish(
            pages_addr,
            data_pages_len,
            canary_ptr.as_ptr().expose_provenance(),
            key.unwrap_or(0),
            wants_key,
            [words(&canary[..8]), words(&canary[8..])],
        );
        Ok(region)
    }

    /// Makes the data pages readable and writable, backed as the policy asks:
    /// `memfd_secret` memory (locked by the kernel) or anonymous memory `mlock`ed
    /// per the mlock policy.
    fn back_pages(data_pages: NonNull<u8>, len: usize, options: Options) -> Result<Pages, Error> {
        if options.memory != MemoryPolicy::Anonymous {
            let secret = || -> std::io::Result<()> {
                let fd = sys::memfd_secret()?;
                sys::ftruncate(std::os::fd::AsFd::as_fd(&fd), len)?;
                // SAFETY:
                // - the range is page-aligned, inside our fresh mapping, and nothing
                //   references it, so MAP_FIXED replaces only our own reservation.
                unsafe { sys::mmap_fixed_shared(data_pages, len, std::os::fd::AsFd::as_fd(&fd)) }
                // The mapping keeps the file alive; the descriptor closes here.
            };
            return match secret() {
                Ok(()) => Ok(Pages { memory: Memory::Secret, locked: true }),
                Err(source) => Err(Error::SecretMemory { source }),
            };
        }
        // SAFETY:
        // - `data_pages` is page-aligned and the range lies inside our fresh mapping,
        //   which nothing references yet.
        unsafe { sys::mprotect(data_pages, len, ProtFlags::READ_WRITE) }
            .map_err(|source| protect_error("mprotect", source))?;
        // SAFETY:
        // - the range lies inside our mapping; locking changes no contents.
        let locked = match unsafe { sys::mlock(data_pages, len) } {
            Ok(()) => true,
            Err(source) if options.mlock == MlockPolicy::Required => {
                let limit = sys::getrlimit_memlock().ok().flatten();
                return Err(Error::MemoryLock { requested: len, limit, source });
            }
            Err(_) => false,
        };
        Ok(Pages { memory: Memory::Anonymous, locked })
    }

    /// The first byte of the secret.
    pub(crate) fn data(&self) -> NonNull<u8> {
        self.data
    }

    pub(crate) fn data_len(&self) -> usize {
        self.data_len
    }

    pub(crate) fn options(&self) -> Options {
        self.options
    }

    pub(crate) fn mechanism(&self) -> Mechanism {
        match self.slot.key() {
            0 => Mechanism::PageProtection,
            key => Mechanism::ProtectionKey { key },
        }
    }

    pub(crate) fn memory(&self) -> Memory {
        self.memory
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.locked
    }

    /// Whether the region was wiped and can no longer be opened.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.slot.is_poisoned()
    }

    /// `(mapping, data pages, secret)` address ranges, for diagnostics and tests.
    pub(crate) fn ranges(&self) -> [(usize, usize); 3] {
        let addr = |p: NonNull<u8>| p.as_ptr().addr();
        [
            (addr(self.map.ptr), self.map.len),
            (addr(self.data_pages), self.data_pages_len),
            (addr(self.data), self.data_len),
        ]
    }

    /// The region's registry slot, through which scopes open and close it.
    pub(crate) fn slot(&self) -> &'static Slot {
        self.slot
    }

    /// Counts `access` open (see [`Slot::open`]).
    pub(crate) fn open(&self, access: Access) -> Result<(), Error> {
        self.slot.open(access)
    }

    /// Counts `access` closed (see [`Slot::close`]).
    #[cfg(test)]
    pub(crate) fn close(&self, access: Access) -> Result<(), Error> {
        self.slot.close(access)
    }

    /// Closes `access`, poisoning on failure (see [`Slot::close_or_poison`]).
    #[inline]
    pub(crate) fn close_or_poison(&self, access: Access) {
        self.slot.close_or_poison(access);
    }

    /// Test hook: wipes under the maintenance lock and reports whether every
    /// data-page byte reads back zero (the canary is gone too, so this reads the
    /// pages without a checked open).
    #[cfg(test)]
    fn wipe_and_check(&self) -> bool {
        assert!(self.slot.wipe_once(), "no scope may be open");
        assert_eq!(self.slot.key(), 0, "test regions use page protection");
        let counts = lock(&self.slot.counts);
        self.slot.set_pages(ProtFlags::NONE, ProtFlags::READ).expect("mprotect");
        let bytes = self.data_pages.as_ptr();
        // SAFETY:
        // - the data pages were just made readable, and no scope is open.
        let zero =
            (0..self.data_pages_len).all(|i| unsafe { bytes.wrapping_add(i).read_volatile() } == 0);
        self.slot.set_pages(ProtFlags::READ, counts.prot()).expect("mprotect");
        zero
    }
}

/// Scopes: the hot path works from the registry slot alone (a static page), so a
/// scope touches no heap memory between its system calls.
impl Slot {
    /// Counts `access` open, changing protection if needed, then checks the canary.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`], [`Error::Protect`] (nothing changed), or
    /// [`Error::CanaryCorrupted`] (the access is closed again before returning).
    #[inline]
    pub(crate) fn open(&'static self, access: Access) -> Result<(), Error> {
        let slot = self;
        slot.admit()?;
        match slot.key() {
            0 if slot.needs_key() => {
                slot.leave();
                return Err(Error::KeysExhausted);
            }
            0 => {
                let mut counts = lock(&slot.counts);
                let next = counts.add(access);
                if let Err(err) = self.set_pages(counts.prot(), next.prot()) {
                    drop(counts);
                    slot.leave();
                    return Err(err);
                }
                *counts = next;
            }
            key => {
                slot.touch();
                pkru::update(key, |c| c.add(access));
            }
        }
        if self.canary_intact() {
            Ok(())
        } else {
            self.close_or_poison(access);
            Err(Error::CanaryCorrupted)
        }
    }

    /// Counts `access` closed, changing protection if it was the last.
    ///
    /// # Errors
    ///
    /// [`Error::Protect`] if `mprotect` failed; the access is then still open.
    #[inline]
    pub(crate) fn close(&self, access: Access) -> Result<(), Error> {
        let slot = self;
        match slot.key() {
            0 => {
                let mut counts = lock(&slot.counts);
                let next = counts.sub(access);
                self.set_pages(counts.prot(), next.prot())?;
                *counts = next;
            }
            key => pkru::update(key, |c| c.sub(access)),
        }
        slot.leave();
        Ok(())
    }

    /// Closes `access`; if re-sealing fails, wipes the secret and poisons the region
    /// rather than leave it readable. Used where no error can be returned (drops).
    ///
    /// Re-sealing only fails in theory: the data pages are a mapping of their own
    /// (their flags differ from the guard pages'), so `mprotect` never splits it and
    /// never needs memory. Should it fail anyway, this scope was the last one open
    /// (`mprotect` runs only when the count reaches zero or a write scope ends with
    /// no other scope open), so no reference to the secret is live while it is
    /// wiped. If even making the pages writable fails, the process aborts: a secrets
    /// library must not go on with a secret left readable.
    pub(crate) fn close_or_poison(&self, access: Access) {
        if self.close(access).is_ok() {
            return;
        }
        self.poison();
        let (addr, len) = self.pages();
        // SAFETY:
        // - the data pages are ours; widening protection strands no reference.
        if unsafe { sys::mprotect_at(addr, len, ProtFlags::READ_WRITE) }.is_err() {
            std::process::abort();
        }
        wipe_range(addr, len);
        // SAFETY:
        // - the data pages are ours; no reference is live (see above).
        let _ = unsafe { sys::mprotect_at(addr, len, ProtFlags::NONE) };
        *lock(&self.counts) = Counts::ZERO;
        self.leave();
    }

    #[inline]
    fn set_pages(&self, from: ProtFlags, to: ProtFlags) -> Result<(), Error> {
        if from == to {
            return Ok(());
        }
        let (addr, len) = self.pages();
        // SAFETY:
        // - the data pages are ours and page-aligned (published slot);
        // - protection is narrowed only when a count reached zero, i.e. after the
        //   last guard holding that access was dropped, so no live reference uses
        //   the access taken away.
        unsafe { sys::mprotect_at(addr, len, to) }
            .map_err(|source| protect_error("mprotect", source))
    }

    /// Whether the canary below the secret still holds the region's value. The
    /// region must be open for reading in this thread.
    #[inline]
    fn canary_intact(&self) -> bool {
        let canary_ptr = core::ptr::with_exposed_provenance::<u8>(self.canary_at());
        // SAFETY:
        // - the canary is inside the data pages, which are open for reading in this
        //   thread while the caller's access is counted; `[u8; N]` has alignment 1
        //   and every bit pattern is valid. Volatile: the bytes may have been
        //   changed behind the compiler's back (that is what we look for).
        let found = unsafe { canary_ptr.cast::<[u8; CANARY_LEN]>().read_volatile() };
        let [a, b] = self.canary();
        let mut expected = [0u8; CANARY_LEN];
        expected[..8].copy_from_slice(&a.to_ne_bytes());
        expected[8..].copy_from_slice(&b.to_ne_bytes());
        found.iter().zip(expected).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Admits one more scope: refuses a poisoned region, asks for a lost key back,
    /// then counts the scope (the caller must [`leave`](Self::leave) on every
    /// later failure).
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`]; nothing is counted then.
    #[inline]
    pub(super) fn admit(&'static self) -> Result<(), Error> {
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        if self.wants_key_back() {
            self.reclaim_key();
        }
        self.enter();
        if self.is_poisoned() {
            self.leave();
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    /// Under virtualised keys, a region that lost its key asks for one back before
    /// it opens (if no scope is open on it). If none can be had, the open fails
    /// with [`Error::KeysExhausted`] rather than open the region with page
    /// protection, which would open it to every thread.
    #[cold]
    fn reclaim_key(&'static self) {
        if !self.try_exclusive() {
            return;
        }
        let (addr, len) = self.pages();
        // The maintenance lock means no scope is open on the pages.
        if let Ok(Some(key)) = obtain_key(self, addr, len, KeyExhaustion::Virtualize) {
            self.set_key(key);
        }
        self.unlock_exclusive();
    }
}

/// Keys that could not be closed in every thread (a thread did not acknowledge
/// the revocation): kept allocated so nobody else gets them, never given to a
/// region.
static TAINTED_KEYS: AtomicU32 = AtomicU32::new(0);

/// Whether protection key `key` guards (or guarded, until its region is gone) a
/// region of siegel's: a fault on it is siegel's to explain.
pub(crate) fn is_siegel_key(key: u32) -> bool {
    key > 0 && key < 16 && LIVE_KEYS.load(Ordering::Acquire) & (1 << key) != 0
}

/// Gets a protection key — a free one, or under [`KeyExhaustion::Virtualize`] one
/// stolen from the least recently used closed region — closes it in every thread
/// of the process ([`pkru::revoke`]: a fresh key may be open in a thread that ran
/// other code's `pkey_alloc`, a moved one in a thread that inherited or leaked
/// it), and tags the data pages `addr..addr + len` with it. `None`: stay on page
/// protection (sealed; under virtualised keys an open then asks again). No scope
/// may be open on the pages (the region is being built, or its slot is under
/// maintenance).
fn obtain_key(
    slot: &'static Slot,
    addr: usize,
    len: usize,
    policy: KeyExhaustion,
) -> Result<Option<u32>, Error> {
    let key = loop {
        match sys::pkey_alloc(PkeyRights::DISABLE_ACCESS) {
            // A tainted key stays allocated to us: ask for another.
            Ok(key) if TAINTED_KEYS.load(Ordering::Acquire) & (1 << key) != 0 => {}
            Ok(key) => {
                LIVE_KEYS.fetch_or(1 << key, Ordering::AcqRel);
                break key;
            }
            Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => match policy {
                KeyExhaustion::Virtualize => match slot::steal_key(slot) {
                    Some(key) => break key,
                    None => return Ok(None),
                },
                KeyExhaustion::Fallback => return Ok(None),
                KeyExhaustion::Error => return Err(Error::KeysExhausted),
            },
            Err(source) => return Err(Error::Protect { call: "pkey_alloc", source }),
        }
    };
    if !pkru::revoke(key) {
        // Some thread may still hold the key open: it must never guard a region.
        TAINTED_KEYS.fetch_or(1 << key, Ordering::AcqRel);
        LIVE_KEYS.fetch_and(!(1 << key), Ordering::AcqRel);
        return match policy {
            KeyExhaustion::Error => Err(Error::KeysExhausted),
            _ => Ok(None),
        };
    }
    pkru::set_owner(key, Some(slot));
    // SAFETY:
    // - the data pages are ours and page-aligned; no scope is open on them (see
    //   above), so the protection change strands no reference.
    if let Err(source) = unsafe { sys::pkey_mprotect_at(addr, len, ProtFlags::READ_WRITE, key) } {
        pkru::set_owner(key, None);
        LIVE_KEYS.fetch_and(!(1 << key), Ordering::AcqRel);
        let _ = sys::pkey_free(key);
        return Err(protect_error("pkey_mprotect", source));
    }
    Ok(Some(key))
}

impl Drop for Region {
    fn drop(&mut self) {
        // In a child made by `fork`, MADV_DONTFORK left no pages at this address:
        // touching them would fault, and unmapping could remove someone else's
        // mapping made at the same address since.
        if sys::getpid() != self.owner_pid {
            self.map.forget();
            return;
        }
        let slot = self.slot;
        slot.exclusive_for_drop();
        let key = slot.key();
        if key != 0 {
            // Forget this thread's counts (the handle's own access, leaked guards).
            pkru::update(key, |_| Counts::ZERO);
        }
        slot.wipe_exclusive();
        slot.unpublish();
        // Unmap before freeing the key, so no page is tagged with a key that a
        // later `pkey_alloc` may hand out again.
        self.map.unmap();
        if key != 0 {
            pkru::set_owner(key, None);
            LIVE_KEYS.fetch_and(!(1 << key), Ordering::AcqRel);
            let _ = sys::pkey_free(key);
        }
        slot.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;

    fn mprotect_region(len: usize) -> Region {
        Region::new(len, 1, Options::new().backend(Backend::Mprotect)).expect("region")
    }

    #[test]
    fn counts_pick_the_widest_access() {
        let c = Counts::ZERO;
        assert_eq!(c.prot(), ProtFlags::NONE);
        assert_eq!(c.add(Access::Read).prot(), ProtFlags::READ);
        assert_eq!(c.add(Access::Read).add(Access::Write).prot(), ProtFlags::READ_WRITE);
        assert_eq!(c.add(Access::Write).sub(Access::Write).prot(), ProtFlags::NONE);
        assert_eq!(c.pkru_bits(), 0b11);
        assert_eq!(c.add(Access::Read).pkru_bits(), 0b10);
        assert_eq!(c.add(Access::Read).add(Access::Write).pkru_bits(), 0);
    }

    #[test]
    fn secret_ends_at_the_trailing_guard_page_with_the_canary_below() {
        let page = sys::page_size();
        for len in [0, 1, 31, page - CANARY_LEN, page - CANARY_LEN + 1, page, 3 * page + 5] {
            let region = mprotect_region(len);
            let [(map, map_len), (pages, pages_len), (data, data_len)] = region.ranges();
            assert_eq!(data_len, len);
            assert_eq!(pages, map + page, "leading guard page");
            assert_eq!(pages + pages_len, map + map_len - page, "trailing guard page");
            assert_eq!(data + data_len, pages + pages_len, "secret is right-aligned");
            assert!(data - CANARY_LEN >= pages, "canary inside the data pages");
            assert_eq!(pages_len % page, 0);
        }
    }

    #[test]
    fn wipe_zeroes_every_data_page_byte() {
        let region = mprotect_region(100);
        region.open(Access::Write).expect("open");
        let data = region.data().as_ptr();
        for i in 0..100 {
            // SAFETY:
            // - `i < 100 == data_len`: in bounds of the secret.
            let byte = unsafe { data.add(i) };
            // SAFETY:
            // - the region is open for writing in this thread.
            unsafe { byte.write(0xA5) };
        }
        region.close(Access::Write).expect("close");
        assert!(region.wipe_and_check(), "a byte survived the wipe");
    }

    #[test]
    fn overlapping_scopes_close_in_any_order() {
        let region = mprotect_region(8);
        region.open(Access::Read).expect("first");
        region.open(Access::Read).expect("second");
        region.open(Access::Write).expect("write");
        region.close(Access::Read).expect("close first");
        region.close(Access::Write).expect("close write");
        assert_eq!(*lock(&region.slot.counts), Counts { reads: 1, writes: 0 });
        region.close(Access::Read).expect("close second");
        assert_eq!(*lock(&region.slot.counts), Counts::ZERO);
    }

    #[test]
    fn a_corrupted_canary_is_reported_and_the_region_stays_sealed() {
        let region = mprotect_region(8);
        region.open(Access::Write).expect("open");
        // SAFETY:
        // - the byte just below the secret is the canary's last byte, inside the
        //   data pages, which are open for writing.
        let below = unsafe { region.data().sub(1) };
        // SAFETY:
        // - `below` is readable while the write access is open.
        let old = unsafe { below.read() };
        // SAFETY:
        // - `below` is writable while the write access is open.
        unsafe { below.write(old ^ 1) };
        region.close(Access::Write).expect("close");
        assert!(matches!(region.open(Access::Read), Err(Error::CanaryCorrupted)));
        assert_eq!(*lock(&region.slot.counts), Counts::ZERO);
    }

    #[test]
    fn canaries_differ_between_regions() {
        let (a, b) = (mprotect_region(8), mprotect_region(8));
        assert_ne!(a.slot.canary(), b.slot.canary());
    }
}
