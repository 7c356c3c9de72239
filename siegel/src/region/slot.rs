//! The registry of live regions: one [`Slot`] per region at a stable address,
//! never freed, so that code without a handle — [`lockdown`], key virtualisation,
//! and the fatal-signal handler — can find every region.
//!
//! A slot's `open` word counts the scopes open on its region in all threads (plus
//! handles that hold access). Adding [`EXCLUSIVE`] to it is the slot's maintenance
//! lock: taken only when the count is 0 (key stealing, wiping) or by the region's
//! drop; an opener that finds it set backs off and retries.
//!
//! # Safety
//!
//! - `addr..addr + len` of a published slot is the data pages of a live mapping;
//!   the region unpublishes the slot before unmapping.
//! - Pages are wiped only by a holder of the maintenance lock (no scope open, and
//!   none can open meanwhile), by the region's drop, or by the fatal-signal
//!   handler (the process is dying).

use core::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Mutex;

use super::{lock, pkru, wipe_range, Counts};
use crate::sys::{self, ProtFlags};

/// Added to [`Slot::open`] while the slot is under maintenance. Far above any
/// count of open scopes a process can reach (each needs a guard: 2^62 leaked
/// guards would take centuries), so scope counts never reach it and an opener
/// never waits on a count it mistook for maintenance.
const EXCLUSIVE: u64 = 1 << 62;
/// [`Slot::addr`] of a free slot.
const FREE: usize = 0;
/// [`Slot::addr`] of a slot whose region is being built.
const RESERVED: usize = 1;

const NOT_WIPED: u8 = 0;
const WIPING: u8 = 1;
const WIPED: u8 = 2;

/// Bumped whenever a key is stolen; opens record it, so the slot with the
/// smallest epoch is (roughly) the least recently used.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Shared, address-stable state of one region.
pub(crate) struct Slot {
    /// Start of the data pages (exposed address), or [`FREE`]/[`RESERVED`].
    addr: AtomicUsize,
    /// Length of the data pages.
    len: AtomicUsize,
    /// Address of the region's canary (exposed).
    canary_at: AtomicUsize,
    /// The protection key guarding the pages, or 0 for page protection.
    key: AtomicU32,
    /// Whether the region should hold a key (PKU backend with virtualised keys).
    wants_key: AtomicBool,
    /// Open scopes in all threads, plus [`EXCLUSIVE`] under maintenance.
    open: AtomicU64,
    /// [`EPOCH`] at the last open.
    epoch: AtomicU64,
    poisoned: AtomicBool,
    wipe: AtomicU8,
    /// Process-wide open counts for page protection; also serialises `mprotect`.
    pub(super) counts: Mutex<Counts>,
    /// The region's canary (16 random bytes) as two words.
    canary: [AtomicU64; 2],
}

impl core::fmt::Debug for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slot").field("key", &self.key()).finish_non_exhaustive()
    }
}

impl Slot {
    const fn new() -> Self {
        Self {
            addr: AtomicUsize::new(FREE),
            len: AtomicUsize::new(0),
            canary_at: AtomicUsize::new(0),
            key: AtomicU32::new(0),
            wants_key: AtomicBool::new(false),
            open: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            wipe: AtomicU8::new(NOT_WIPED),
            counts: Mutex::new(Counts::ZERO),
            canary: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Takes a free slot for a region being built.
    pub(super) fn acquire() -> &'static Self {
        let mut pool = lock(&POOL);
        let slot = pool.pop_free();
        slot.addr.store(RESERVED, Ordering::Release);
        slot
    }

    /// Makes the slot visible to [`lockdown`], key stealing and the crash handler.
    pub(super) fn publish(
        &self,
        addr: usize,
        len: usize,
        canary_at: usize,
        key: u32,
        wants_key: bool,
        canary: [u64; 2],
    ) {
        self.len.store(len, Ordering::Relaxed);
        self.canary_at.store(canary_at, Ordering::Relaxed);
        self.key.store(key, Ordering::Relaxed);
        self.wants_key.store(wants_key, Ordering::Relaxed);
        self.canary[0].store(canary[0], Ordering::Relaxed);
        self.canary[1].store(canary[1], Ordering::Relaxed);
        self.addr.store(addr, Ordering::Release);
    }

    /// Hides the slot from everyone (before its pages are unmapped).
    pub(super) fn unpublish(&self) {
        self.addr.store(RESERVED, Ordering::Release);
    }

    /// Returns the slot to the free list, reset.
    pub(super) fn release(&'static self) {
        self.key.store(0, Ordering::Relaxed);
        self.wants_key.store(false, Ordering::Relaxed);
        self.poisoned.store(false, Ordering::Relaxed);
        self.wipe.store(NOT_WIPED, Ordering::Relaxed);
        *lock(&self.counts) = Counts::ZERO;
        self.open.store(0, Ordering::Release);
        self.addr.store(FREE, Ordering::Release);
        lock(&POOL).free.push(self);
    }

    /// The data pages, `(address, length)`.
    #[inline]
    pub(super) fn pages(&self) -> (usize, usize) {
        (self.addr.load(Ordering::Acquire), self.len.load(Ordering::Relaxed))
    }

    #[inline]
    pub(super) fn canary_at(&self) -> usize {
        self.canary_at.load(Ordering::Relaxed)
    }

    #[inline]
    pub(super) fn key(&self) -> u32 {
        self.key.load(Ordering::Acquire)
    }

    #[inline]
    pub(super) fn canary(&self) -> [u64; 2] {
        [self.canary[0].load(Ordering::Relaxed), self.canary[1].load(Ordering::Relaxed)]
    }

    #[inline]
    pub(super) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }

    pub(super) fn poison(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
    }

    pub(super) fn is_wiped(&self) -> bool {
        self.wipe.load(Ordering::Acquire) == WIPED
    }

    /// Whether this region lost its key to another and should ask for one again.
    #[inline]
    pub(super) fn wants_key_back(&self) -> bool {
        self.key.load(Ordering::Relaxed) == 0 && self.wants_key.load(Ordering::Relaxed)
    }

    /// Whether the region runs under the PKU backend with virtualised keys but
    /// holds no key right now: it may not be opened (page protection would open
    /// it to every thread).
    #[inline]
    pub(super) fn needs_key(&self) -> bool {
        self.wants_key.load(Ordering::Relaxed) && self.key.load(Ordering::Acquire) == 0
    }

    /// Counts one more scope (waiting out maintenance).
    #[inline]
    pub(super) fn enter(&self) {
        loop {
            if self.open.fetch_add(1, Ordering::SeqCst) < EXCLUSIVE {
                break;
            }
            self.open.fetch_sub(1, Ordering::SeqCst);
            std::thread::yield_now();
        }
    }

    /// Records that a keyed region was used now, for the choice of the least
    /// recently used victim (only keyed regions are victims, so page protection
    /// scopes skip it and touch one static page less).
    pub(super) fn touch(&self) {
        let now = EPOCH.load(Ordering::Relaxed);
        if self.epoch.load(Ordering::Relaxed) != now {
            self.epoch.store(now, Ordering::Relaxed);
        }
    }

    /// Counts one scope less; if it was the last and the region is poisoned,
    /// wipes it.
    #[inline]
    pub(super) fn leave(&self) {
        if self.open.fetch_sub(1, Ordering::SeqCst) == 1 && self.is_poisoned() {
            self.wipe_once();
        }
    }

    /// Takes the maintenance lock if no scope is open.
    pub(super) fn try_exclusive(&self) -> bool {
        self.open.compare_exchange(0, EXCLUSIVE, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// Takes the maintenance lock for the region's drop: waits out maintenance by
    /// others, but not scopes (a leaked guard must not hang the drop).
    pub(super) fn exclusive_for_drop(&self) {
        loop {
            let open = self.open.load(Ordering::SeqCst);
            if open >= EXCLUSIVE {
                std::thread::yield_now();
            } else if self
                .open
                .compare_exchange(open, open + EXCLUSIVE, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return;
            }
        }
    }

    pub(super) fn unlock_exclusive(&self) {
        self.open.fetch_sub(EXCLUSIVE, Ordering::SeqCst);
    }

    /// Sets the key (under the maintenance lock).
    pub(super) fn set_key(&self, key: u32) {
        self.key.store(key, Ordering::Release);
    }

    /// Wipes the pages if no scope is open; otherwise the last scope to close will
    /// (it finds the region poisoned). Returns whether the pages are wiped now.
    pub(super) fn wipe_once(&self) -> bool {
        if self.is_wiped() {
            return true;
        }
        if !self.try_exclusive() {
            return false;
        }
        self.wipe_exclusive();
        self.unlock_exclusive();
        true
    }

    /// Wipes the pages, gaining access for this thread. The caller holds the
    /// maintenance lock, so no other thread has a scope open.
    pub(super) fn wipe_exclusive(&self) {
        if self
            .wipe
            .compare_exchange(NOT_WIPED, WIPING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let (addr, len) = (self.addr.load(Ordering::Acquire), self.len.load(Ordering::Relaxed));
        match self.key() {
            0 => {
                let counts = lock(&self.counts);
                // SAFETY:
                // - `addr..addr + len` is our data pages (published slot); no
                //   reference into them is live (maintenance lock, module docs).
                if unsafe { sys::mprotect_raw(addr, len, ProtFlags::READ_WRITE) } {
                    wipe_range(addr, len);
                    // SAFETY:
                    // - as above; re-sealing strands no reference.
                    unsafe { sys::mprotect_raw(addr, len, counts.prot()) };
                }
            }
            key => pkru::with_write_access(key, || wipe_range(addr, len)),
        }
        self.wipe.store(WIPED, Ordering::Release);
    }
}

/// Slots per chunk of the registry.
const CHUNK: usize = 64;

/// A block of slots; chunks form a list that only grows.
struct Chunk {
    slots: [Slot; CHUNK],
    next: AtomicPtr<Chunk>,
}

impl Chunk {
    const fn new() -> Self {
        Self { slots: [const { Slot::new() }; CHUNK], next: AtomicPtr::new(core::ptr::null_mut()) }
    }
}

static FIRST: Chunk = Chunk::new();

/// Free slots and the last chunk; only allocation takes this lock.
struct Pool {
    free: Vec<&'static Slot>,
    tail: Option<&'static Chunk>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { free: Vec::new(), tail: None });

impl Pool {
    fn pop_free(&mut self) -> &'static Slot {
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        let chunk: &'static Chunk = match self.tail {
            None => &FIRST,
            Some(tail) => {
                let chunk: &'static Chunk = Box::leak(Box::new(Chunk::new()));
                tail.next.store(core::ptr::from_ref(chunk).cast_mut(), Ordering::Release);
                chunk
            }
        };
        self.tail = Some(chunk);
        self.free.extend(chunk.slots.iter().rev());
        self.free.pop().expect("a fresh chunk has slots")
    }
}

/// Calls `f` on every slot whose region is live. Lock-free and allocation-free:
/// safe to call from a signal handler.
fn for_each_live(mut f: impl FnMut(&'static Slot, usize)) {
    let mut chunk: Option<&'static Chunk> = Some(&FIRST);
    while let Some(current) = chunk {
        for slot in &current.slots {
            let addr = slot.addr.load(Ordering::Acquire);
            if addr > RESERVED {
                f(slot, addr);
            }
        }
        let next = current.next.load(Ordering::Acquire);
        // SAFETY:
        // - `next` is null or a chunk leaked with `Box::leak`, never freed.
        chunk = unsafe { next.as_ref() };
    }
}

/// Takes the key of the least recently used keyed region that no thread has
/// open, leaving that region sealed by page protection. `None` if every keyed
/// region is open.
pub(super) fn steal_key(thief: &Slot) -> Option<u32> {
    for _ in 0..4 {
        let mut best: Option<(&'static Slot, u64)> = None;
        for_each_live(|slot, _| {
            if core::ptr::eq(slot, thief)
                || slot.key.load(Ordering::Relaxed) == 0
                || slot.open.load(Ordering::Relaxed) != 0
            {
                return;
            }
            let epoch = slot.epoch.load(Ordering::Relaxed);
            if best.is_none_or(|(_, e)| epoch < e) {
                best = Some((slot, epoch));
            }
        });
        let (victim, _) = best?;
        if !victim.try_exclusive() {
            continue;
        }
        let key = victim.key();
        let (addr, len) = (victim.addr.load(Ordering::Acquire), victim.len.load(Ordering::Relaxed));
        // SAFETY:
        // - `addr..addr + len` is the victim's data pages (published slot); no scope is
        //   open on it (maintenance lock), so sealing strands no reference.
        let sealed = key != 0
            && addr > RESERVED
            && unsafe { sys::pkey_mprotect_at(addr, len, ProtFlags::NONE, 0) }.is_ok();
        if sealed {
            victim.set_key(0);
        }
        victim.unlock_exclusive();
        if sealed {
            EPOCH.fetch_add(1, Ordering::Relaxed);
            return Some(key);
        }
    }
    None
}

/// Lockdowns begun so far.
static LOCKDOWNS: AtomicU64 = AtomicU64::new(0);

/// How many lockdowns have begun: an operation that copies a secret compares it
/// before and after, and wipes its copy if it changed.
pub(crate) fn lockdowns() -> u64 {
    LOCKDOWNS.load(Ordering::SeqCst)
}

/// What [`lockdown`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lockdown {
    /// Regions wiped at once.
    pub wiped: usize,
    /// Regions with a scope open somewhere: each is wiped when its last scope
    /// closes (that scope's reads still see the secret until then).
    pub deferred: usize,
}

/// Wipes every live region now and poisons its handle: the next open of any of
/// them returns [`Error::Poisoned`](crate::Error::Poisoned) instead of data. The
/// process keeps running.
///
/// A region with a scope open in some thread is wiped when that last scope closes
/// (wiping under a live reference would be a data race). Regions created while
/// this runs may or may not be included.
#[allow(clippy::must_use_candidate, reason = "called for its effect; the report is optional")]
pub fn lockdown() -> Lockdown {
    // Counted before the walk, so an operation that copies a secret (rotation)
    // and sees the count unchanged afterwards knows its copy was published before
    // this walk began, and is wiped by it.
    LOCKDOWNS.fetch_add(1, Ordering::SeqCst);
    let mut report = Lockdown::default();
    for_each_live(|slot, _| {
        slot.poison();
        if slot.wipe_once() {
            report.wiped += 1;
        } else {
            report.deferred += 1;
        }
    });
    report
}

/// Wipes and poisons every live region with no regard for locks or open scopes:
/// for the fatal-signal handler only. Async-signal-safe: atomics, `mprotect`,
/// `WRPKRU` and volatile stores.
///
/// Every region is made writable with `mprotect` (which keeps its protection
/// key) *and* this thread is granted every key, so a region caught between two
/// states — its key being stolen, or never given one — is writable either way.
/// A region another thread unmaps at this very moment (its drop, which wipes it
/// first) can still fault here; the process is dying either way.
pub(crate) fn wipe_all_for_crash() -> usize {
    pkru::open_all_for_crash();
    let mut wiped = 0;
    for_each_live(|slot, addr| {
        slot.poison();
        let len = slot.len.load(Ordering::Relaxed);
        // SAFETY:
        // - `addr..addr + len` is a live region's data pages; the process is
        //   dying, so widening protection under other threads' feet is acceptable.
        if unsafe { sys::mprotect_raw(addr, len, ProtFlags::READ_WRITE) } {
            wipe_range(addr, len);
            slot.wipe.store(WIPED, Ordering::Release);
            wiped += 1;
        }
    });
    wiped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_billion_leaked_scopes_do_not_look_like_maintenance() {
        // 2^30 leaked guards used to reach the maintenance bit: every later open
        // spun forever. The count now has room for any number a process reaches.
        let slot = Slot::new();
        slot.open.store(1 << 30, Ordering::SeqCst);
        slot.enter();
        assert_eq!(slot.open.load(Ordering::SeqCst), (1 << 30) + 1);
        slot.leave();
        assert!(!slot.try_exclusive(), "scopes are still counted open");
    }
}
