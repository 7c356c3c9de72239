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
//! A one-byte underflow lands in the canary, a random per-process value checked on
//! every open; reaching past the data pages downwards faults on the leading guard.
//!
//! # Safety
//!
//! Invariants the typed layer (`protected.rs`) relies on:
//!
//! - `data..data + data_len` lies inside the mapping, is aligned for the secret's
//!   type (it ends on a page boundary and `data_len` is a multiple of the alignment,
//!   which is at most a page), and was zero-filled by `mmap`.
//! - While an [`Access`] is counted open (in this thread for a protection key,
//!   process-wide for page protection), the data pages allow that access.
//! - [`Guarding::Pkey`] exists only after `pkey_alloc` succeeded, which proves the
//!   kernel set CR4.PKE, so `RDPKRU`/`WRPKRU` cannot raise #UD.

#![allow(unsafe_code)]

use core::{
    cell::Cell,
    ptr::NonNull,
    sync::atomic::{compiler_fence, AtomicBool, AtomicU32, Ordering},
};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::{
    arch,
    backend::{KeyExhaustion, Mechanism, MlockPolicy, Options},
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
struct Counts {
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

/// The highest protection key number on x86-64 is 15.
const PKEYS: usize = 16;

thread_local! {
    /// Per-thread open counts of every protection key: PKRU is per thread, so two
    /// threads' scopes on one region are independent, and overlapping scopes of
    /// one thread may close in any order.
    static PKEY_COUNTS: [Cell<Counts>; PKEYS] = const { [const { Cell::new(Counts::ZERO) }; PKEYS] };
}

/// Applies `counts` to `key`'s bits in this thread's PKRU, writing it only if it
/// changes.
fn pkru_apply(key: u32, counts: Counts) {
    let shift = 2 * key;
    // SAFETY:
    // - this is only called for keys the kernel allocated, which proves CR4.PKE is
    //   set (module invariant), so RDPKRU does not fault [1].
    //
    // [1] Intel SDM vol. 2B, RDPKRU
    let current = unsafe { arch::rdpkru() };
    let wanted = (current & !(0b11 << shift)) | (counts.pkru_bits() << shift);
    if wanted != current {
        // SAFETY:
        // - CR4.PKE is set, as above [1];
        // - narrowing rights strands no live reference: counts reach zero only when
        //   every guard of this thread on `key` has been dropped.
        //
        // [1] Intel SDM vol. 2D, WRPKRU
        unsafe { arch::wrpkru(wanted) };
    }
}

/// Bit `k` is set while protection key `k` guards a live region of ours.
static LIVE_KEYS: AtomicU32 = AtomicU32::new(0);

/// Closes, in the calling thread's PKRU, every key of a live region on which this
/// thread has no scope open; returns how many keys it closed.
///
/// A new thread inherits its creator's PKRU: spawned while a scope was open, it
/// can read that region until it calls this. [`crate::thread::spawn`] calls it
/// first thing; call it at the start of threads made by other spawners.
pub fn seal_thread() -> u32 {
    let live = LIVE_KEYS.load(Ordering::Acquire);
    if live == 0 {
        return 0;
    }
    PKEY_COUNTS.with(|all| {
        // SAFETY:
        // - `live != 0`: a key was allocated, so CR4.PKE is set (module invariant).
        let current = unsafe { arch::rdpkru() };
        let mut wanted = current;
        let mut closed = 0;
        for (key, counts) in (0u32..).zip(all) {
            let sealed = Counts::ZERO.pkru_bits() << (2 * key);
            if live & (1 << key) != 0 && counts.get() == Counts::ZERO && wanted & sealed != sealed {
                wanted |= sealed;
                closed += 1;
            }
        }
        if wanted != current {
            // SAFETY:
            // - CR4.PKE is set (above);
            // - only keys with no scope open in this thread are closed, so no live
            //   reference of this thread loses its access.
            unsafe { arch::wrpkru(wanted) };
        }
        closed
    })
}

/// Runs `f` on this thread's counts for `key` and applies the result to PKRU.
fn pkey_update(key: u32, f: impl FnOnce(Counts) -> Counts) {
    PKEY_COUNTS.with(|all| {
        let cell = usize::try_from(key).ok().and_then(|k| all.get(k)).expect("siegel: pkey > 15");
        let counts = f(cell.get());
        cell.set(counts);
        pkru_apply(key, counts);
    });
}

/// How a region is guarded.
enum Guarding {
    /// A protection key; open counts are per thread ([`PKEY_COUNTS`]).
    Pkey(u32),
    /// Page protection; open counts are process-wide, and the lock is held across
    /// the `mprotect` so that concurrent opens and closes apply in order.
    Pages(Mutex<Counts>),
}

/// The per-process canary, drawn once from `getrandom`.
fn canary() -> Result<&'static [u8; CANARY_LEN], Error> {
    static CANARY: OnceLock<[u8; CANARY_LEN]> = OnceLock::new();
    if let Some(canary) = CANARY.get() {
        return Ok(canary);
    }
    let mut fresh = [0; CANARY_LEN];
    sys::getrandom(&mut fresh).map_err(|source| Error::Random { source })?;
    Ok(CANARY.get_or_init(|| fresh))
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
    guarding: Guarding,
    poisoned: AtomicBool,
    locked: bool,
    owner_pid: u32,
    /// The access the owning handle keeps open (its typestate), if any.
    held: Option<Access>,
}

// SAFETY:
// - the pointers refer to a mapping the `Region` owns exclusively; moving the owner
//   to another thread moves that ownership;
// - a sealed region holds no thread-specific state (`held == None`, no PKRU bits
//   open); the typed layer keeps handles that hold access `!Send`.
unsafe impl Send for Region {}

// SAFETY:
// - shared (`&Region`) methods mutate only through the `Mutex`, the atomic and the
//   thread-local PKRU counts; the secret bytes themselves are reached only through
//   the typed layer, whose write access requires `&mut`.
unsafe impl Sync for Region {}

impl Region {
    /// Maps a new, sealed region for `data_len` bytes aligned to `align`.
    pub(crate) fn new(data_len: usize, align: usize, options: Options) -> Result<Self, Error> {
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
        let canary = canary()?;
        let use_pku = options.wants_pku()?;

        let ptr =
            sys::mmap_anonymous(map_len).map_err(|source| Error::Map { len: map_len, source })?;
        let map = Mapping { ptr, len: map_len };
        // SAFETY:
        // - `page < map_len`, so the offset stays inside the mapping [1].
        //
        // [1] https://doc.rust-lang.org/std/ptr/struct.NonNull.html#method.add
        let data_pages = unsafe { ptr.add(page) };
        let protect = |call| move |source| Error::Protect { call, source };

        // SAFETY:
        // - `data_pages` is page-aligned and the range lies inside our fresh mapping,
        //   which nothing references yet.
        unsafe { sys::mprotect(data_pages, data_pages_len, ProtFlags::READ_WRITE) }
            .map_err(protect("mprotect"))?;
        // SAFETY:
        // - the range lies inside our mapping; locking changes no contents.
        let locked = match unsafe { sys::mlock(data_pages, data_pages_len) } {
            Ok(()) => true,
            Err(source) if options.mlock == MlockPolicy::Required => {
                let limit = sys::getrlimit_memlock().ok().flatten();
                return Err(Error::MemoryLock { requested: data_pages_len, limit, source });
            }
            Err(_) => false,
        };
        for advice in [Advice::LinuxDontDump, Advice::LinuxDontFork] {
            // SAFETY:
            // - the whole mapping is ours and page-aligned; neither advice changes
            //   contents in this process.
            unsafe { sys::madvise(ptr, map_len, advice) }.map_err(protect("madvise"))?;
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
        // - source and destination are valid for `CANARY_LEN` bytes, and cannot
        //   overlap (one is in a static, the other in our fresh mapping).
        unsafe { canary_ptr.copy_from_nonoverlapping(NonNull::from(canary).cast(), CANARY_LEN) };

        let guarding = if use_pku {
            Self::assign_key(data_pages, data_pages_len, options)?
        } else {
            Guarding::Pages(Mutex::new(Counts::ZERO))
        };
        if let Guarding::Pages(_) = guarding {
            // SAFETY:
            // - the data pages are ours and page-aligned; nothing references them.
            unsafe { sys::mprotect(data_pages, data_pages_len, ProtFlags::NONE) }
                .map_err(protect("mprotect"))?;
        }
        Ok(Self {
            map,
            data_pages,
            data_pages_len,
            data,
            data_len,
            guarding,
            poisoned: AtomicBool::new(false),
            locked,
            owner_pid: sys::getpid(),
            held: None,
        })
    }

    /// Allocates a protection key and tags the data pages with it, or falls back to
    /// page protection when keys are exhausted and the policy allows it.
    fn assign_key(
        data_pages: NonNull<u8>,
        data_pages_len: usize,
        options: Options,
    ) -> Result<Guarding, Error> {
        let key = match sys::pkey_alloc(PkeyRights::DISABLE_ACCESS) {
            Ok(key) => key,
            Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => {
                return match options.keys_exhausted {
                    KeyExhaustion::Fallback => Ok(Guarding::Pages(Mutex::new(Counts::ZERO))),
                    KeyExhaustion::Error => Err(Error::KeysExhausted),
                };
            }
            Err(source) => return Err(Error::Protect { call: "pkey_alloc", source }),
        };
        // A stale count (from a guard this thread leaked on an earlier region with
        // the same key) must not open the new region.
        pkey_update(key, |_| Counts::ZERO);
        // SAFETY:
        // - the data pages are ours and page-aligned; `key` was just allocated.
        let tagged =
            unsafe { sys::pkey_mprotect(data_pages, data_pages_len, ProtFlags::READ_WRITE, key) };
        if let Err(source) = tagged {
            let _ = sys::pkey_free(key);
            return Err(Error::Protect { call: "pkey_mprotect", source });
        }
        LIVE_KEYS.fetch_or(1 << key, Ordering::AcqRel);
        Ok(Guarding::Pkey(key))
    }

    /// The first byte of the secret.
    pub(crate) fn data(&self) -> NonNull<u8> {
        self.data
    }

    pub(crate) fn mechanism(&self) -> Mechanism {
        match self.guarding {
            Guarding::Pkey(key) => Mechanism::ProtectionKey { key },
            Guarding::Pages(_) => Mechanism::PageProtection,
        }
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.locked
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

    fn lock(counts: &Mutex<Counts>) -> MutexGuard<'_, Counts> {
        // A panic while holding this lock cannot leave `Counts` half-written.
        counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts `access` open, changing protection if needed, then checks the canary.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`], [`Error::Protect`] (nothing changed), or
    /// [`Error::CanaryCorrupted`] (the access is closed again before returning).
    pub(crate) fn open(&self, access: Access) -> Result<(), Error> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned);
        }
        match &self.guarding {
            Guarding::Pkey(key) => pkey_update(*key, |c| c.add(access)),
            Guarding::Pages(counts) => {
                let mut counts = Self::lock(counts);
                let next = counts.add(access);
                self.set_pages(counts.prot(), next.prot())?;
                *counts = next;
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
    pub(crate) fn close(&self, access: Access) -> Result<(), Error> {
        match &self.guarding {
            Guarding::Pkey(key) => pkey_update(*key, |c| c.sub(access)),
            Guarding::Pages(counts) => {
                let mut counts = Self::lock(counts);
                let next = counts.sub(access);
                self.set_pages(counts.prot(), next.prot())?;
                *counts = next;
            }
        }
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
        self.poisoned.store(true, Ordering::Release);
        // SAFETY:
        // - the data pages are ours; widening protection strands no reference.
        if unsafe { sys::mprotect(self.data_pages, self.data_pages_len, ProtFlags::READ_WRITE) }
            .is_err()
        {
            std::process::abort();
        }
        self.wipe();
        // SAFETY:
        // - the data pages are ours; no reference is live (see above).
        let _ = unsafe { sys::mprotect(self.data_pages, self.data_pages_len, ProtFlags::NONE) };
    }

    /// Changes the handle's long-lived access from `self.held` to `to`: opens the
    /// new access before closing the old, so the region is never sealed in between.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) and [`close`](Self::close); on error nothing changed.
    pub(crate) fn change_held(&mut self, to: Option<Access>) -> Result<(), Error> {
        if let Some(access) = to {
            self.open(access)?;
        }
        if let Some(access) = self.held {
            if let Err(err) = self.close(access) {
                if let Some(opened) = to {
                    self.close_or_poison(opened);
                }
                return Err(err);
            }
        }
        self.held = to;
        Ok(())
    }

    fn set_pages(&self, from: ProtFlags, to: ProtFlags) -> Result<(), Error> {
        if from == to {
            return Ok(());
        }
        // SAFETY:
        // - the data pages are ours and page-aligned;
        // - protection is narrowed only when a count reached zero, i.e. after the
        //   last guard holding that access was dropped, so no live reference uses
        //   the access taken away.
        unsafe { sys::mprotect(self.data_pages, self.data_pages_len, to) }
            .map_err(|source| Error::Protect { call: "mprotect", source })
    }

    /// Whether the canary below the secret still holds the process's value. The
    /// region must be open for reading in this thread.
    fn canary_intact(&self) -> bool {
        let Ok(expected) = canary() else { return false };
        // SAFETY:
        // - `data - CANARY_LEN` lies inside the data pages (see `new`).
        let canary_ptr = unsafe { self.data.sub(CANARY_LEN) };
        // SAFETY:
        // - the canary is inside the data pages, which are open for reading in this
        //   thread while the caller's access is counted; `[u8; N]` has alignment 1
        //   and every bit pattern is valid. Volatile: the bytes may have been
        //   changed behind the compiler's back (that is what we look for).
        let found = unsafe { canary_ptr.cast::<[u8; CANARY_LEN]>().read_volatile() };
        found.iter().zip(expected).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// Overwrites the data pages (canary and secret) with zeros, with volatile
    /// stores the compiler cannot drop. The pages must be writable.
    fn wipe(&self) {
        let words = self.data_pages_len / core::mem::size_of::<u64>();
        let base = self.data_pages.cast::<u64>();
        for i in 0..words {
            // SAFETY:
            // - `i < words`, so the word lies inside the page-aligned data pages,
            //   which the caller made writable; `u64` is aligned on a page boundary.
            let word = unsafe { base.add(i) };
            // SAFETY:
            // - `word` is valid for writes and aligned (above); volatile so the
            //   stores are not elided as dead before `munmap`.
            unsafe { word.write_volatile(0) };
        }
        compiler_fence(Ordering::SeqCst);
    }

    /// Test hook: opens for writing, wipes, and reports whether every data-page
    /// byte reads back zero (then re-seals).
    #[cfg(test)]
    fn wipe_and_check(&self) -> bool {
        self.open(Access::Write).expect("open");
        self.wipe();
        let bytes = self.data_pages.as_ptr();
        // SAFETY:
        // - the data pages are open for writing (hence reading) in this thread.
        let zero =
            (0..self.data_pages_len).all(|i| unsafe { bytes.wrapping_add(i).read_volatile() } == 0);
        self.close(Access::Write).expect("close");
        zero
    }

    /// Whether the region was wiped and can no longer be opened.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }
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
        match &self.guarding {
            Guarding::Pkey(key) => {
                let key = *key;
                pkey_update(key, |_| Counts { reads: 0, writes: 1 });
                self.wipe();
                pkey_update(key, |_| Counts::ZERO);
                // Unmap before freeing the key, so no page is tagged with a key that
                // a later `pkey_alloc` may hand out again.
                self.map.unmap();
                LIVE_KEYS.fetch_and(!(1 << key), Ordering::AcqRel);
                let _ = sys::pkey_free(key);
            }
            Guarding::Pages(_) => {
                // SAFETY:
                // - the data pages are ours; the region is being destroyed, so no
                //   reference into it is live.
                let writable = unsafe {
                    sys::mprotect(self.data_pages, self.data_pages_len, ProtFlags::READ_WRITE)
                };
                // If even that failed, `munmap` below still returns the pages to the
                // kernel, which zeroes them before any reuse.
                if writable.is_ok() {
                    self.wipe();
                }
            }
        }
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
        let Guarding::Pages(counts) = &region.guarding else { panic!("mprotect backend") };
        assert_eq!(*Region::lock(counts), Counts { reads: 1, writes: 0 });
        region.close(Access::Read).expect("close second");
        assert_eq!(*Region::lock(counts), Counts::ZERO);
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
        let Guarding::Pages(counts) = &region.guarding else { panic!("mprotect backend") };
        assert_eq!(*Region::lock(counts), Counts::ZERO);
    }
}
