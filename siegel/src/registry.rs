//! The registry of live regions: one [`Entry`] per region (dedicated or pool
//! arena) at a stable address, never freed, so that code without a handle —
//! [`lockdown`], key virtualisation, a thread's exit, and the fatal-signal
//! handler — can find every region.
//!
//! An entry's open count counts the scopes open on its region in all threads
//! (plus handles that hold access), on [`STRIPES`] stripes: each thread counts
//! on its own stripe, so that threads on different stripes write no common
//! cache line. Its maintenance flag is the entry's maintenance lock: taken only
//! when the count is 0 (key stealing, wiping) or by the region's drop; an
//! opener that finds it set waits. The two meet as in Dekker's algorithm: an
//! opener counts itself, then reads the flag; maintenance sets the flag, then
//! sums the count (all `SeqCst`): whichever comes second sees the other.
//!
//! # Safety
//!
//! - The pages of a published entry are the data pages of a live mapping; the
//!   region unpublishes the entry before unmapping. They travel as a pointer
//!   with its provenance ([`Pages`]), never as an integer.
//! - Pages are wiped only by a holder of the maintenance lock (no scope open, and
//!   none can open meanwhile), by the region's drop, or by the fatal-signal
//!   handler (the process is dying).

#![allow(unsafe_code)]

use core::{
    cell::Cell,
    num::NonZeroU32,
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering},
};
use std::sync::Mutex;

use crate::{
    access::{Access, Counts},
    behind_seal::{self, Sealed},
    pages::{self, Pages, CANARY_LEN},
    pkru,
    sync::{self, lock},
    sys::{self, ProtFlags},
};

/// The stripes of an entry's open count ([`Entry::open`]).
const STRIPES: usize = 4;
const _: () = assert!(STRIPES.is_power_of_two(), "`stripe` masks with STRIPES - 1");

/// One stripe of an open count, alone on its two cache lines (the unit
/// adjacent-line prefetchers pull in).
#[repr(align(128))]
struct Stripe(AtomicU64);

thread_local! {
    /// This thread's stripe, given (round robin) on the slow paths a thread
    /// takes at its first scope ([`assign_stripe`]); [`STRIPES`] until then,
    /// which [`stripe`] reads as stripe 0.
    static STRIPE: Cell<usize> = const { Cell::new(STRIPES) };
}

/// The stripe the next thread gets.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

/// This thread's stripe: one thread-local load, no test (a thread not yet
/// given one counts on stripe 0; the count is the stripes' sum, so a scope
/// counted on stripe 0 and given back on the thread's own later is still
/// counted right).
#[inline]
fn stripe() -> usize {
    STRIPE.with(Cell::get) & (STRIPES - 1)
}

/// Gives this thread its own stripe if it has none yet: called on the paths
/// every thread takes at its first scope on a region (a key's first open in
/// this thread, page protection's out-of-line open), never on the fast path.
#[inline]
pub(crate) fn assign_stripe() {
    #[cold]
    #[inline(never)]
    fn assign() {
        let stripe = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
        STRIPE.with(|s| s.set(stripe));
    }
    if STRIPE.with(Cell::get) >= STRIPES {
        assign();
    }
}

/// [`Entry::state`]: free, on the free list.
const FREE: u8 = 0;
/// Taken by a region being built or dropped; not visible to the walks.
const RESERVED: u8 = 1;
/// Published: the walks see it.
const LIVE: u8 = 2;

const NOT_WIPED: u8 = 0;
const WIPING: u8 = 1;
const WIPED: u8 = 2;

/// [`Entry::seal`]: the protection key guarding the pages (0: page protection).
const KEY_BITS: u32 = 0b1111;
/// [`Entry::seal`]: the region should hold a key (PKU backend, virtualised keys).
const WANTS_KEY: u32 = 1 << 4;
/// [`Entry::seal`]: the region was wiped or must be; no scope may open.
const POISONED: u32 = 1 << 5;
/// [`Entry::seal`]: a pool arena one of whose slots was poisoned or found
/// corrupted (set before the slot's state, never cleared while the arena
/// lives): a pooled handle's liveness check reads its slot's state only then.
const SLOT_DAMAGED: u32 = 1 << 6;

/// How an entry's pages are sealed, read in one load: the key, whether the
/// region wants one, whether it is poisoned, whether a slot of it (a pool
/// arena's) was damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seal(u32);

impl Seal {
    /// The protection key guarding the pages; `None`: page protection.
    #[inline]
    pub(crate) fn key(self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.0 & KEY_BITS)
    }

    /// The key, if a scope may open right now with it (keyed and not
    /// poisoned: one compare on the hot path).
    #[inline]
    pub(crate) fn live_key(self) -> Option<NonZeroU32> {
        if self.is_keyed_and_live() {
            // SAFETY:
            // - keyed: the key bits are 1..=15, not zero (`is_keyed_and_live`);
            //   said here so that the hot path tests them once, not twice.
            Some(unsafe { NonZeroU32::new_unchecked(self.0 & KEY_BITS) })
        } else {
            None
        }
    }

    /// Whether a scope may open right now with the key: keyed and not poisoned
    /// (one compare on the hot path).
    #[inline]
    pub(crate) fn is_keyed_and_live(self) -> bool {
        // Keys 1..=15 without POISONED: 0 wraps to the top, poisoned ones
        // are above KEY_BITS.
        (self.0 & (KEY_BITS | POISONED)).wrapping_sub(1) < KEY_BITS
    }

    #[inline]
    pub(crate) fn is_poisoned(self) -> bool {
        self.0 & POISONED != 0
    }

    /// Live, and no slot of it (a pool arena's) poisoned or corrupted: every
    /// handle on it is live (one test on a handle's deref).
    #[inline]
    pub(crate) fn is_live_and_undamaged(self) -> bool {
        self.0 & (POISONED | SLOT_DAMAGED) == 0
    }

    /// Live on page protection: no key, none wanted, not poisoned.
    #[inline]
    pub(crate) fn is_unkeyed_and_live(self) -> bool {
        self.0 & (KEY_BITS | WANTS_KEY | POISONED) == 0
    }

    /// Under virtualised keys, a region holding no key: it may not open (page
    /// protection would open it to every thread) until it takes one back.
    #[inline]
    pub(crate) fn needs_key(self) -> bool {
        self.0 & (WANTS_KEY | KEY_BITS) == WANTS_KEY
    }
}

/// Bumped whenever a key is stolen; keyed opens record it, so the entry with the
/// smallest epoch is (roughly) the least recently used.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Shared, address-stable state of one region. Aligned to 128 bytes (two cache
/// lines, the unit adjacent-line prefetchers pull in), so that scopes on two
/// regions in two threads never write the same line; a scope writes only its
/// thread's stripe of the open count, so that scopes on one region (a pool's
/// arena, a shared secret) in two threads need not either.
#[repr(align(128))]
pub(crate) struct Entry {
    /// [`FREE`], [`RESERVED`] or [`LIVE`].
    state: AtomicU8,
    /// Bumped each time the entry is published: tells its regions apart
    /// (a thread's nested reads, `nest`, are of one of them).
    generation: AtomicU64,
    /// Start of the data pages (null unless published).
    pages: AtomicPtr<u8>,
    /// Length of the data pages.
    pages_len: AtomicUsize,
    /// The region's canary (dedicated regions; pool arenas check their slots').
    canary_at: AtomicPtr<u8>,
    /// The protection key, [`WANTS_KEY`] and [`POISONED`]: what an opener
    /// checks after counting itself, in one load ([`Seal`]).
    seal: AtomicU32,
    /// The process that published the entry: a `fork` child inherits the
    /// registry but none of its regions (their pages are `MADV_DONTFORK`).
    pid: AtomicU32,
    /// Open scopes in all threads, one stripe per group of threads (see the
    /// module docs). The count is the stripes' wrapping sum: a scope counted
    /// on one thread and given back on another (a handle's held access) takes
    /// one stripe below zero and the other above.
    open: [Stripe; STRIPES],
    /// The maintenance lock (see the module docs).
    maintenance: AtomicBool,
    /// [`EPOCH`] at the last keyed open.
    epoch: AtomicU64,
    wipe: AtomicU8,
    /// Page protection: the process-wide open counts ([`Counts::to_bits`]),
    /// changed without a lock while the protection they imply stays the same
    /// ([`try_share`](Self::try_share), [`try_unshare`](Self::try_unshare)).
    /// The protection of the pages is that of these counts, or wider while a
    /// change holds [`pages_lock`](Self::pages_lock) (or after a refused
    /// narrowing, until the next change).
    page_counts: AtomicU64,
    /// Serialises every change of page protection (`mprotect`) and the counts
    /// changes that go with it.
    pub(crate) pages_lock: Mutex<()>,
    /// The region's canary (16 random non-zero bytes) as two words.
    canary: [AtomicU64; 2],
}

impl core::fmt::Debug for Entry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Entry").field("key", &self.key()).finish_non_exhaustive()
    }
}

impl Entry {
    const fn new() -> Self {
        Self {
            state: AtomicU8::new(FREE),
            generation: AtomicU64::new(0),
            pages: AtomicPtr::new(core::ptr::null_mut()),
            pages_len: AtomicUsize::new(0),
            canary_at: AtomicPtr::new(core::ptr::null_mut()),
            seal: AtomicU32::new(0),
            pid: AtomicU32::new(0),
            open: [const { Stripe(AtomicU64::new(0)) }; STRIPES],
            maintenance: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            wipe: AtomicU8::new(NOT_WIPED),
            page_counts: AtomicU64::new(0),
            pages_lock: Mutex::new(()),
            canary: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Takes a free entry for a region being built.
    pub(crate) fn acquire() -> &'static Self {
        let entry = lock(&TABLE).pop_free();
        entry.state.store(RESERVED, Ordering::Release);
        entry
    }

    /// Makes the entry visible to [`lockdown`], key stealing and the crash handler.
    pub(crate) fn publish(
        &self,
        pages: Pages,
        canary_at: NonNull<u8>,
        key: Option<NonZeroU32>,
        wants_key: bool,
        canary: [u8; CANARY_LEN],
    ) {
        let key = key.map_or(0, NonZeroU32::get);
        let words = |half: &[u8]| u64::from_ne_bytes(half.try_into().expect("8 bytes"));
        self.pages.store(pages.ptr().as_ptr(), Ordering::Relaxed);
        self.pages_len.store(pages.len(), Ordering::Relaxed);
        self.canary_at.store(canary_at.as_ptr(), Ordering::Relaxed);
        assert!(key <= KEY_BITS, "siegel: pkey {key} > 15");
        self.seal.store(key | if wants_key { WANTS_KEY } else { 0 }, Ordering::Relaxed);
        self.pid.store(sys::getpid(), Ordering::Relaxed);
        self.canary[0].store(words(&canary[..8]), Ordering::Relaxed);
        self.canary[1].store(words(&canary[8..]), Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.state.store(LIVE, Ordering::Release);
    }

    /// Which region the entry is of: bumped at each publish. Read by a thread
    /// that holds a handle to the region (so after its publish).
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Hides the entry from the walks (before its pages are unmapped).
    pub(crate) fn unpublish(&self) {
        self.state.store(RESERVED, Ordering::Release);
    }

    /// Returns the entry to the free list, reset (ending the maintenance lock
    /// of the region's drop).
    pub(crate) fn release(&'static self) {
        self.reset();
        lock(&TABLE).free.push(self);
        sync::unhold();
    }

    /// [`release`](Self::release)'s reset: every field as a free entry has
    /// it, the maintenance lock given up, the state `FREE`.
    fn reset(&self) {
        self.pages.store(core::ptr::null_mut(), Ordering::Relaxed);
        self.seal.store(0, Ordering::Relaxed);
        self.wipe.store(NOT_WIPED, Ordering::Relaxed);
        self.page_counts.store(0, Ordering::SeqCst);
        for stripe in &self.open {
            stripe.0.store(0, Ordering::Release);
        }
        self.maintenance.store(false, Ordering::Release);
        self.state.store(FREE, Ordering::Release);
    }

    /// The data pages of the region. Only for a published entry, or one whose
    /// region the caller owns.
    #[inline]
    pub(crate) fn pages(&self) -> Pages {
        let ptr = NonNull::new(self.pages.load(Ordering::Acquire))
            .expect("siegel: pages of an unpublished registry entry");
        // SAFETY:
        // - a published entry's pages are whole pages of its region's live mapping
        //   (module docs), stored with their provenance by `publish`.
        unsafe { Pages::new(ptr, self.pages_len.load(Ordering::Relaxed)) }
    }

    /// Where the region's canary lies (inside its data pages).
    #[inline]
    pub(crate) fn canary_at(&self) -> NonNull<u8> {
        let at = self.canary_at.load(Ordering::Relaxed);
        debug_assert!(!at.is_null(), "siegel: canary of an unpublished registry entry");
        // SAFETY:
        // - callers hold a scope on the region (or own it), so the entry is
        //   published, and `publish` stored a `NonNull` here.
        unsafe { NonNull::new_unchecked(at) }
    }

    /// The region's canary as the two native-endian words its bytes make.
    #[inline]
    pub(crate) fn canary_words(&self) -> [u64; 2] {
        [self.canary[0].load(Ordering::Relaxed), self.canary[1].load(Ordering::Relaxed)]
    }

    /// The region's canary.
    #[cfg(test)]
    pub(crate) fn canary(&self) -> [u8; CANARY_LEN] {
        let mut bytes = [0u8; CANARY_LEN];
        bytes[..8].copy_from_slice(&self.canary[0].load(Ordering::Relaxed).to_ne_bytes());
        bytes[8..].copy_from_slice(&self.canary[1].load(Ordering::Relaxed).to_ne_bytes());
        bytes
    }

    /// How the pages are sealed now (key, wanted key, poison), in one load.
    #[inline]
    pub(crate) fn seal(&self) -> Seal {
        Seal(self.seal.load(Ordering::SeqCst))
    }

    /// The protection key guarding the pages; `None`: page protection.
    #[inline]
    pub(crate) fn key(&self) -> Option<NonZeroU32> {
        self.seal().key()
    }

    /// Sets the key (under the maintenance lock; a concurrent [`poison`]
    /// stays).
    ///
    /// [`poison`]: Self::poison
    pub(crate) fn set_key(&self, key: NonZeroU32) {
        assert!(key.get() <= KEY_BITS, "siegel: pkey {key} > 15");
        self.replace_key(key.get());
    }

    /// Takes the key away: the pages are sealed under page protection (under
    /// the maintenance lock; a concurrent [`poison`](Self::poison) stays).
    pub(crate) fn clear_key(&self) {
        self.replace_key(0);
    }

    fn replace_key(&self, bits: u32) {
        let _ = self
            .seal
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |seal| Some(seal & !KEY_BITS | bits));
    }

    #[inline]
    pub(crate) fn is_poisoned(&self) -> bool {
        self.seal().is_poisoned()
    }

    /// Marks a pool arena's entry before one of its slots is poisoned or
    /// marked corrupted (see [`Seal::is_live_and_undamaged`]).
    pub(crate) fn mark_slot_damaged(&self) {
        self.seal.fetch_or(SLOT_DAMAGED, Ordering::SeqCst);
    }

    pub(crate) fn poison(&self) {
        self.seal.fetch_or(POISONED, Ordering::SeqCst);
    }

    /// Whether the region belongs to another process: this is a `fork` child
    /// of the process that made it, and has no copy of its pages.
    #[inline]
    pub(crate) fn is_inherited(&self) -> bool {
        self.pid.load(Ordering::Relaxed) != sys::getpid()
    }

    /// Whether the region runs under the PKU backend with virtualised keys: the
    /// only regions whose key may be taken for another
    /// ([`KeyExhaustion::Virtualize`](crate::KeyExhaustion::Virtualize)).
    pub(crate) fn is_virtualised(&self) -> bool {
        self.seal.load(Ordering::Relaxed) & WANTS_KEY != 0
    }

    /// Whether the region runs under the PKU backend with virtualised keys but
    /// holds no key right now: it may not be opened (page protection would open
    /// it to every thread) until it takes one back.
    #[inline]
    pub(crate) fn needs_key(&self) -> bool {
        self.seal().needs_key()
    }

    /// Whether any scope is open (or maintenance under way).
    pub(crate) fn is_open(&self) -> bool {
        self.count() != 0 || self.maintenance.load(Ordering::SeqCst)
    }

    /// The open count: the stripes' sum, each read once (see the module
    /// docs: an opener this sum misses finds the maintenance flag set).
    fn count(&self) -> u64 {
        self.open.iter().fold(0, |sum, stripe| sum.wrapping_add(stripe.0.load(Ordering::SeqCst)))
    }

    /// The open count (tests: what a scope counted).
    #[cfg(test)]
    pub(crate) fn open_count(&self) -> u64 {
        self.count()
    }

    /// This thread's stripe of the open count.
    #[inline]
    fn my_stripe(&self) -> &AtomicU64 {
        &self.open[stripe()].0
    }

    /// [`EPOCH`] at the last keyed open.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Counts one more scope (waiting out maintenance) and returns the seal
    /// as it is once counted: what the opener must check before it grants.
    #[inline]
    pub(crate) fn enter(&self) -> Seal {
        let stripe = self.my_stripe();
        stripe.fetch_add(1, Ordering::SeqCst);
        if self.maintenance.load(Ordering::SeqCst) {
            self.wait_out_maintenance(stripe);
        }
        self.seal()
    }

    /// Page protection: the open counts now.
    #[inline]
    pub(crate) fn page_counts(&self) -> Counts {
        Counts::from_bits(self.page_counts.load(Ordering::SeqCst))
    }

    /// Page protection: counts one more scope of `access` without the pages
    /// lock if the protection already lets it in (a nested scope, or one
    /// beside another's): no system call. `false`: nothing counted, the
    /// caller takes the lock ([`add_page_count`](Self::add_page_count)).
    #[inline]
    pub(crate) fn try_share(&self, access: Access) -> bool {
        self.change_page_counts(|counts| {
            (counts.allows(access) && counts.total() < u32::MAX).then(|| counts.add(access))
        })
        .is_some()
    }

    /// Page protection: counts one scope of `access` less without the pages
    /// lock if the protection stays as it is. `false`: nothing changed, the
    /// caller takes the lock ([`sub_page_count`](Self::sub_page_count)).
    #[inline]
    pub(crate) fn try_unshare(&self, access: Access) -> bool {
        self.change_page_counts(|counts| {
            let next = counts.sub(access);
            (next.prot() == counts.prot()).then_some(next)
        })
        .is_some()
    }

    /// Page protection, under the pages lock: counts one more scope of
    /// `access`, the pages already open for it. Lock-free changes meanwhile
    /// keep the protection the counts imply, so the one computed under the
    /// lock stays right.
    pub(crate) fn add_page_count(&self, access: Access) {
        self.change_page_counts(|counts| Some(counts.add(access)));
    }

    /// Page protection, under the pages lock: counts one scope of `access`
    /// less and returns the counts before. The pages are narrowed after
    /// this (an opener that finds the narrower protection waits for the
    /// lock, one that it still lets in is let in by the pages too).
    pub(crate) fn sub_page_count(&self, access: Access) -> Counts {
        self.change_page_counts(|counts| Some(counts.sub(access)))
            .expect("siegel: the change always applies")
    }

    /// The page counts' one compare-exchange loop: `change` maps the counts
    /// now to the next ones, or `None` to leave them. Returns the counts it
    /// changed from.
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    fn change_page_counts(&self, change: impl Fn(Counts) -> Option<Counts>) -> Option<Counts> {
        self.page_counts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |bits| {
                change(Counts::from_bits(bits)).map(Counts::to_bits)
            })
            .ok()
            .map(Counts::from_bits)
    }

    /// [`enter`](Self::enter) for the fast path, which waits for nothing:
    /// `None` (nothing counted) under maintenance.
    #[inline]
    pub(crate) fn try_enter(&self) -> Option<Seal> {
        let stripe = self.my_stripe();
        stripe.fetch_add(1, Ordering::SeqCst);
        if self.maintenance.load(Ordering::SeqCst) {
            stripe.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(self.seal())
    }

    /// [`enter`](Self::enter) found the maintenance lock held: gives the count
    /// back and retries until it is not.
    #[cold]
    fn wait_out_maintenance(&self, stripe: &AtomicU64) {
        loop {
            stripe.fetch_sub(1, Ordering::SeqCst);
            std::thread::yield_now();
            stripe.fetch_add(1, Ordering::SeqCst);
            if !self.maintenance.load(Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Records that a keyed region was used now, for the choice of the least
    /// recently used victim (only keyed regions are victims, so page protection
    /// scopes skip it and touch one static page less).
    #[inline]
    pub(crate) fn touch(&self) {
        let now = EPOCH.load(Ordering::Relaxed);
        if self.epoch.load(Ordering::Relaxed) != now {
            self.epoch.store(now, Ordering::Relaxed);
        }
    }

    /// Counts one scope less; if the region is poisoned and no scope is left,
    /// wipes it. Of two last scopes closing at once, the one whose count comes
    /// second in the `SeqCst` order sees none left.
    #[inline]
    pub(crate) fn leave(&self) {
        self.my_stripe().fetch_sub(1, Ordering::SeqCst);
        if self.is_poisoned() && self.count() == 0 {
            self.wipe_once();
        }
    }

    /// Takes the maintenance lock if no scope is open: sets the flag, then
    /// sums the count (see the module docs). Found scopes: clears the flag
    /// again (a wipe that waited for it goes on, see
    /// [`wipe_once`](Self::wipe_once)).
    pub(crate) fn try_exclusive(&self) -> bool {
        if self
            .maintenance
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        if self.count() != 0 {
            self.maintenance.store(false, Ordering::SeqCst);
            return false;
        }
        sync::hold();
        true
    }

    /// Takes the maintenance lock for the region's drop: waits out maintenance by
    /// others, but not scopes (a leaked guard must not hang the drop).
    pub(crate) fn exclusive_for_drop(&self) {
        while self
            .maintenance
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            std::thread::yield_now();
        }
        sync::hold();
    }

    /// Releases the maintenance lock. A poisoned region with no scope open is
    /// wiped first, still under the lock: a lockdown or a last scope may have
    /// found the lock held (they wait for it too, see
    /// [`wipe_once`](Self::wipe_once)).
    pub(crate) fn unlock_exclusive(&self) {
        if self.is_poisoned() && self.count() == 0 && !self.is_inherited() {
            self.wipe_exclusive();
        }
        sync::unhold();
        self.maintenance.store(false, Ordering::SeqCst);
    }

    /// Under the maintenance lock: the region's key was taken (see
    /// `keys::steal`); bumps the epoch so that the next victim is another.
    pub(crate) fn note_stolen() {
        EPOCH.fetch_add(1, Ordering::Relaxed);
    }

    /// Wipes the pages of this poisoned region if no scope is open; otherwise
    /// the last scope to close will (it finds the region poisoned). Returns
    /// whether the pages are wiped now (a region dropped meanwhile counts: its
    /// drop wiped it).
    ///
    /// Maintenance under way elsewhere is waited for (it is short: a key
    /// steal, a key taken back, another wipe), not left to: its holder may
    /// have looked for a wipe to do before this region was poisoned. Only a
    /// thread that holds siegel's locks itself (a signal handler that
    /// interrupted its maintenance) leaves it to that holder's unlock.
    pub(crate) fn wipe_once(&self) -> bool {
        loop {
            if self.wipe.load(Ordering::Acquire) == WIPED {
                return true;
            }
            // A `fork` parent's region: no page of it is here to wipe.
            // Scopes open: the last one to close wipes.
            if self.is_inherited() || self.count() != 0 {
                return false;
            }
            if self
                .maintenance
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                // Under the lock, the region cannot be dropped; but the holder
                // waited for may have been its drop, which wiped it and gave the
                // entry back (maybe to a new region since, not poisoned unless
                // someone poisoned it too). Either way this region is gone.
                if self.state.load(Ordering::Acquire) != LIVE || !self.is_poisoned() {
                    self.maintenance.store(false, Ordering::SeqCst);
                    return true;
                }
                // An opener counted since: it closes, and wipes, after this.
                let wiped = self.count() == 0 && {
                    sync::hold();
                    let wiped = self.wipe_exclusive();
                    sync::unhold();
                    wiped
                };
                self.maintenance.store(false, Ordering::SeqCst);
                return wiped;
            }
            if sync::holding() {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Wipes the data pages behind their seal ([`behind_seal`]: opened to other
    /// threads only where nothing else works). The caller holds the maintenance
    /// lock (or is the region's drop), so no other thread has a scope open.
    pub(crate) fn wipe_exclusive(&self) -> bool {
        self.wipe_exclusive_at(self.pages())
    }

    /// [`wipe_exclusive`](Self::wipe_exclusive) for a region that passes its own
    /// data `pages` (its drop, which may run before the entry was published).
    /// Returns whether the pages are wiped (or replaced); if not, they are not
    /// marked wiped, so a later attempt (the region's drop) tries again.
    pub(crate) fn wipe_exclusive_at(&self, pages: Pages) -> bool {
        if self
            .wipe
            .compare_exchange(NOT_WIPED, WIPING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return self.wipe.load(Ordering::Acquire) == WIPED;
        }
        let key = self.key();
        // Page protection: the pages lock keeps the protection as counted.
        let counts = key.is_none().then(|| lock(&self.pages_lock));
        let prot = if counts.is_some() { self.page_counts().prot() } else { ProtFlags::NONE };
        // SAFETY:
        // - our data pages, under `key` with protection `prot`; no scope uses
        //   them (maintenance lock, module docs) and the protection cannot
        //   change meanwhile (the pages lock, or the key's pages are never
        //   `mprotect`ed but by maintenance).
        let wiped = unsafe { behind_seal::wipe(Sealed { pages, key, prot }) }.is_ok();
        drop(counts);
        self.wipe.store(if wiped { WIPED } else { NOT_WIPED }, Ordering::Release);
        wiped
    }
}

impl pkru::Release for Entry {
    fn release(&self, scopes: u32) {
        for _ in 0..scopes {
            self.leave();
        }
    }
}

/// Entries per chunk of the registry: 16 entries of 640 bytes (an entry's
/// fields and its four stripes, 128 bytes each) make a 10 KiB chunk.
const CHUNK: usize = 16;

/// A block of entries; chunks form a list that only grows.
struct Chunk {
    entries: [Entry; CHUNK],
    next: AtomicPtr<Chunk>,
}

impl Chunk {
    const fn new() -> Self {
        Self {
            entries: [const { Entry::new() }; CHUNK],
            next: AtomicPtr::new(core::ptr::null_mut()),
        }
    }
}

static FIRST: Chunk = Chunk::new();

/// Free entries and the last chunk; only allocation takes this lock.
struct Table {
    free: Vec<&'static Entry>,
    tail: Option<&'static Chunk>,
}

static TABLE: Mutex<Table> = Mutex::new(Table { free: Vec::new(), tail: None });

impl Table {
    fn pop_free(&mut self) -> &'static Entry {
        if let Some(entry) = self.free.pop() {
            return entry;
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
        self.free.extend(chunk.entries.iter().rev());
        self.free.pop().expect("a fresh chunk has entries")
    }
}

/// For `fork` (see `keys::fork_safe`): holds the entry table's lock.
pub(crate) fn hold_for_fork() {
    sync::hold_for_fork(&TABLE);
}

/// In a `fork` child, at the fork: every region published so far is the
/// parent's, absent here (`MADV_DONTFORK`). Each is poisoned, so that its
/// handles answer [`Error::Forked`](crate::Error::Forked) and an open-state
/// handle or guard that crossed the fork panics with an explanation instead of
/// touching unmapped memory. Async-signal-safe: atomics only.
pub(crate) fn poison_inherited() {
    for_each_published(Entry::poison);
}

/// Calls `f` on every published entry of this process (in a `fork` child, the
/// parent's entries describe pages the child does not have). Lock-free and
/// allocation-free: safe to call from a signal handler.
pub(crate) fn for_each_live(mut f: impl FnMut(&'static Entry)) {
    let pid = sys::getpid();
    for_each_published(|entry| {
        if entry.pid.load(Ordering::Relaxed) == pid {
            f(entry);
        }
    });
}

/// Calls `f` on every published entry, whichever process published it.
/// Lock-free and allocation-free.
fn for_each_published(mut f: impl FnMut(&'static Entry)) {
    let mut chunk: Option<&'static Chunk> = Some(&FIRST);
    while let Some(current) = chunk {
        for entry in &current.entries {
            if entry.state.load(Ordering::Acquire) == LIVE {
                f(entry);
            }
        }
        let next = current.next.load(Ordering::Acquire);
        // SAFETY:
        // - `next` is null or a chunk leaked with `Box::leak`, never freed.
        chunk = unsafe { next.as_ref() };
    }
}

/// Whether a scope is open on some keyed region of this process: the only way
/// a key comes free for a region waiting for one (see `scope::wait_for_key`).
pub(crate) fn keyed_scope_open() -> bool {
    let mut open = false;
    for_each_live(|entry| open |= entry.key().is_some() && entry.is_open());
    open
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
    /// Regions with a scope open somewhere (a guard, an open-state handle, or a
    /// guard leaked with `mem::forget`): each is wiped when its last scope
    /// closes — at the latest when its handle drops — and hands out nothing
    /// meanwhile (guards and open handles panic on deref).
    pub deferred: usize,
}

/// Wipes every live region now and poisons its handle: the next open of any of
/// them returns [`Error::Poisoned`](crate::Error::Poisoned) instead of data, and
/// an open-state handle or open guard panics on deref. The process keeps
/// running.
///
/// A region with a scope open in some thread is wiped when that last scope closes
/// (wiping under a live reference would be a data race). Regions created while
/// this runs may or may not be included.
///
/// # Examples
///
/// ```
/// let key = siegel::Protected::<[u8; 32]>::init_with_in(siegel::Dedicated, |k| k.fill(1))?;
/// # if false {
/// let report = siegel::lockdown();
/// assert!(report.wiped >= 1);
/// assert!(key.read().is_err());
/// # }
/// # Ok::<(), siegel::Error>(())
/// ```
#[allow(clippy::must_use_candidate, reason = "called for its effect; the report is optional")]
pub fn lockdown() -> Lockdown {
    // Counted before the walk, so an operation that copies a secret (rotation)
    // and sees the count unchanged afterwards knows its copy was published before
    // this walk began, and is wiped by it.
    LOCKDOWNS.fetch_add(1, Ordering::SeqCst);
    let mut report = Lockdown::default();
    for_each_live(|entry| {
        entry.poison();
        if entry.wipe_once() {
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
///
/// Not the [`behind_seal`] ladder its other wipes climb: in a signal handler
/// neither its `/proc/self/mem` step (the descriptor's first open takes a
/// lock) nor a per-thread key grant is safe, and a dying process needs no
/// re-seal, so every key is opened once and every region made writable.
pub(crate) fn wipe_all_for_crash() -> usize {
    pkru::open_all_for_crash();
    let mut wiped = 0;
    for_each_live(|entry| {
        entry.poison();
        let pages = entry.pages();
        // SAFETY:
        // - a live region's data pages; the process is dying, so widening
        //   protection under other threads' feet is acceptable.
        if unsafe { pages.protect(ProtFlags::READ_WRITE) }.is_ok() {
            // SAFETY:
            // - just made writable (and every key is open in this thread).
            unsafe { pages::wipe(pages.ptr(), pages.len()) };
            entry.wipe.store(WIPED, Ordering::Release);
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
        // spun forever. Maintenance is a flag of its own now.
        let entry = Entry::new();
        entry.open[stripe()].0.store(1 << 62, Ordering::SeqCst);
        entry.enter();
        assert_eq!(entry.count(), (1 << 62) + 1);
        entry.leave();
        assert!(!entry.try_exclusive(), "scopes are still counted open");
        assert!(!entry.maintenance.load(Ordering::SeqCst), "a failed try gives the lock back");
    }

    #[test]
    fn a_wipe_that_waited_for_a_drop_leaves_the_entry_alone() {
        // A lockdown found a live, poisoned region whose drop held the
        // maintenance lock, and waited. The drop then gave the entry back
        // (pages gone, state free, lock released): the wipe must not go on
        // into that entry (arm64 CI: "pages of an unpublished registry entry").
        let entry = &Entry::new();
        entry.pid.store(sys::getpid(), Ordering::SeqCst);
        entry.state.store(LIVE, Ordering::SeqCst);
        entry.poison();
        entry.exclusive_for_drop();
        std::thread::scope(|s| {
            let wiper = s.spawn(|| entry.wipe_once());
            // Long enough for the wiper to find the lock held and wait.
            std::thread::sleep(std::time::Duration::from_millis(20));
            // The rest of a region's drop (its own wipe elided: this entry
            // has no pages).
            entry.unpublish();
            entry.reset();
            sync::unhold();
            assert!(wiper.join().unwrap(), "the region is gone: nothing is left to wipe");
        });
    }

    #[test]
    fn a_scope_given_back_on_another_thread_leaves_the_count_right() {
        // A handle's held access is counted where it was opened and given
        // back where the handle drops: two stripes, one below zero.
        let entry = &Entry::new();
        entry.enter();
        std::thread::scope(|s| {
            s.spawn(|| {
                // A fresh thread: the next stripe, round robin.
                entry.leave();
            });
        });
        assert_eq!(entry.count(), 0);
        assert!(!entry.is_open());
        assert!(entry.try_exclusive(), "nothing is counted open");
        entry.unlock_exclusive();
    }

    #[test]
    fn maintenance_and_an_opener_never_both_go_on() {
        // Dekker: an opener counts itself, then reads the flag; maintenance
        // sets the flag, then sums. Many rounds on two threads: never both.
        let entry = &Entry::new();
        // Under Miri a few hundred rounds (each a thread interleaving it
        // explores with its own scheduler); natively many.
        let rounds = if cfg!(miri) { 300 } else { 20_000 };
        let both = AtomicBool::new(false);
        let inside = AtomicU64::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..rounds {
                    if entry.try_enter().is_some() {
                        if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                            both.store(true, Ordering::SeqCst);
                        }
                        inside.fetch_sub(1, Ordering::SeqCst);
                        entry.leave();
                    }
                }
            });
            s.spawn(|| {
                for _ in 0..rounds {
                    if entry.try_exclusive() {
                        if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                            both.store(true, Ordering::SeqCst);
                        }
                        inside.fetch_sub(1, Ordering::SeqCst);
                        entry.unlock_exclusive();
                    }
                }
            });
        });
        assert!(!both.load(Ordering::SeqCst), "a scope and maintenance overlapped");
        assert_eq!(entry.count(), 0);
    }
}
