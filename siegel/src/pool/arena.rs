//! One arena: a guarded region cut into fixed-size slots, and the secret in one
//! slot ([`PoolSlot`]) with its scopes. See the module docs of [`crate::pool`]
//! for the layout, the canaries, the wipe at free and the behaviour at the
//! process's limits.

#![allow(unsafe_code)]

use core::{
    ptr::NonNull,
    sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering},
};
use std::sync::{Arc, Mutex, Weak};

use super::{PoolInner, ARENA_BYTES, CLASSES};
use crate::{
    access::{Access, Counts},
    behind_seal::{self, Image, Sealed},
    error::Error,
    pages::{self, fill_nonzero_random, protect_error, CANARY_LEN},
    region::Region,
    registry::Entry,
    scope::Scoped,
    sync::lock,
    sys::{self, ProtFlags, ProtectCall},
};

/// The largest class, and so the largest image a slot write needs.
const MAX_SLOT: usize = 2048;

/// Slot states ([`Arena::states`]).
mod state {
    /// On the free list: data wiped, canary in place.
    pub(super) const FREE: u8 = 0;
    /// Handed out; canary and padding are renewed at the first open.
    pub(super) const FRESH: u8 = 1;
    /// In use.
    pub(super) const READY: u8 = 2;
    /// A write scope on this slot changed its own canary or its neighbour's: every
    /// later open fails with `CanaryCorrupted`.
    pub(super) const CORRUPT: u8 = 3;
    /// Wiped because its page could not be re-sealed: every later open fails with
    /// `Poisoned`.
    pub(super) const POISONED: u8 = 4;
    /// Could not be wiped when freed, or sits on a page that could not be
    /// re-sealed: never handed out again.
    pub(super) const RETIRED: u8 = 5;
}

/// One arena: a guarded region cut into `slot_count` slots of `slot_size` bytes.
/// Slot `i` starts at offset `(i + 1) * slot_size` of the data pages (the
/// region's own canary sits in the first slot-sized block), and no slot
/// straddles a page.
#[derive(Debug)]
pub(crate) struct Arena {
    region: Region,
    class: usize,
    slot_size: usize,
    /// Reference canaries, one per slot (heap: a separate mapping).
    canaries: Box<[[u8; CANARY_LEN]]>,
    /// One of the [`state`] constants per slot.
    states: Box<[AtomicU8]>,
    meta: Mutex<Meta>,
    /// The pool, for rotation and discarding (weak: the pool owns its arenas).
    pool: Weak<PoolInner>,
    live: Arc<AtomicUsize>,
    owner_pid: u32,
}

/// Page protection bookkeeping (unused while the arena holds a protection key).
#[derive(Debug)]
struct Meta {
    free: Vec<u32>,
    /// Open counts per page, all threads.
    pages: Vec<Counts>,
    /// The protection each page has now; differs from `pages[p].prot()` only
    /// after a failed re-seal.
    prot: Vec<ProtFlags>,
    /// Open counts per slot, so that scopes leaked on a secret (`mem::forget` of
    /// a guard) are given back when it drops instead of keeping its page open
    /// for the next secret.
    slots: Vec<Counts>,
    /// Slots handed out and not yet freed.
    in_use: usize,
}

impl Arena {
    pub(super) fn new(class: usize, pool: &Arc<PoolInner>) -> Result<Self, Error> {
        let slot_size = CLASSES[class];
        // One slot less than fits, so the region's own canary shares the 16 pages.
        let slot_count = ARENA_BYTES / slot_size - 1;
        let region = Region::new_arena(slot_count * slot_size, slot_size, pool.options)?;
        let mut canaries = vec![[0; CANARY_LEN]; slot_count].into_boxed_slice();
        fill_nonzero_random(canaries.as_flattened_mut())?;
        let scopes = region.scopes();
        crate::scope::open(&scopes, Access::Write)?;
        for (i, canary) in canaries.iter().enumerate() {
            // SAFETY:
            // - slot `i` lies inside the region's data (`i < slot_count`).
            let slot = unsafe { region.data().add(i * slot_size) };
            // SAFETY:
            // - the slot's first 16 bytes are inside the data, open for writing; the
            //   source is heap memory, so the two cannot overlap.
            unsafe { pages::copy(NonNull::from(canary).cast(), slot, CANARY_LEN) };
        }
        // A refused re-seal is this allocation's error (dropping the region
        // wipes and unmaps it), not a poisoned arena handed back as new.
        crate::scope::try_close(&scopes, Access::Write)?;
        let pages = ARENA_BYTES.div_ceil(sys::page_size());
        Ok(Self {
            region,
            class,
            slot_size,
            canaries,
            states: (0..slot_count).map(|_| AtomicU8::new(state::FREE)).collect(),
            meta: Mutex::new(Meta {
                free: (0..u32::try_from(slot_count).expect("few slots")).rev().collect(),
                pages: vec![Counts::ZERO; pages],
                prot: vec![ProtFlags::NONE; pages],
                slots: vec![Counts::ZERO; slot_count],
                in_use: 0,
            }),
            pool: Arc::downgrade(pool),
            live: Arc::clone(&pool.live),
            owner_pid: sys::getpid(),
        })
    }

    pub(super) fn take(&self) -> Option<u32> {
        let mut meta = lock(&self.meta);
        let index = meta.free.pop()?;
        meta.in_use += 1;
        self.state_of(index).store(state::FRESH, Ordering::Release);
        Some(index)
    }

    /// Whether the arena belongs to another process (this is a `fork` child of
    /// the one that made it, and has no copy of its pages).
    pub(crate) fn is_inherited(&self) -> bool {
        sys::getpid() != self.owner_pid
    }

    /// Whether the arena was wiped (a lockdown): it serves no new secrets.
    pub(super) fn is_poisoned(&self) -> bool {
        self.region.is_poisoned()
    }

    fn slot_count(&self) -> usize {
        self.canaries.len()
    }

    fn state_of(&self, index: u32) -> &AtomicU8 {
        &self.states[idx(index)]
    }

    /// Start of slot `index`.
    fn slot_ptr(&self, index: u32) -> NonNull<u8> {
        assert!(idx(index) < self.slot_count(), "siegel: slot index out of range");
        // SAFETY:
        // - `index < slot_count` (checked above).
        unsafe { self.slot_ptr_unchecked(index) }
    }

    /// [`state_of`](Self::state_of) without the bounds check, for the hot
    /// path of a [`PoolSlot`] (whose index [`PoolSlot::new`] checked).
    ///
    /// # Safety
    ///
    /// `index < slot_count`.
    #[inline]
    unsafe fn state_of_unchecked(&self, index: u32) -> &AtomicU8 {
        debug_assert!(idx(index) < self.slot_count(), "siegel: slot index out of range");
        // SAFETY:
        // - `states` has `slot_count` entries (made so in `new`, never
        //   resized) and `index < slot_count` (caller).
        unsafe { self.states.get_unchecked(idx(index)) }
    }

    /// [`slot_ptr`](Self::slot_ptr) without the bounds check.
    ///
    /// # Safety
    ///
    /// `index < slot_count`.
    #[inline]
    unsafe fn slot_ptr_unchecked(&self, index: u32) -> NonNull<u8> {
        debug_assert!(idx(index) < self.slot_count(), "siegel: slot index out of range");
        // SAFETY:
        // - `index < slot_count` (caller): slot `index` lies inside the
        //   region's data (`slot_count` slots of `slot_size` bytes fit it).
        unsafe { self.region.data().add(idx(index) * self.slot_size) }
    }

    /// Slot `index`'s reference canary, without the bounds check.
    ///
    /// # Safety
    ///
    /// `index < slot_count`.
    #[inline]
    unsafe fn canary_unchecked(&self, index: u32) -> &[u8; CANARY_LEN] {
        debug_assert!(idx(index) < self.slot_count(), "siegel: slot index out of range");
        // SAFETY:
        // - `canaries` has `slot_count` entries (`slot_count` is its length)
        //   and `index < slot_count` (caller).
        unsafe { self.canaries.get_unchecked(idx(index)) }
    }

    /// Index of the page holding slot `index`.
    fn page_of(&self, index: u32) -> usize {
        (idx(index) + 1) * self.slot_size / sys::page_size()
    }

    /// The slots on page `page`.
    fn slots_on_page(&self, page: usize) -> core::ops::Range<usize> {
        let per_page = sys::page_size() / self.slot_size;
        let first = (page * per_page).saturating_sub(1);
        first.min(self.slot_count())..((page + 1) * per_page - 1).min(self.slot_count())
    }

    /// Sets page `page` to `prot` (page protection), recording it.
    fn set_page(&self, meta: &mut Meta, page: usize, prot: ProtFlags) -> Result<(), Error> {
        if meta.prot[page] == prot {
            return Ok(());
        }
        let len = sys::page_size();
        let one = self.region.data_pages().slice(page * len, len);
        // SAFETY:
        // - one whole data page of ours; callers narrow protection only when the
        //   page's counts no longer need it, so no live reference loses access.
        unsafe { one.protect(prot) }
            .map_err(|source| protect_error(ProtectCall::Mprotect, source))?;
        meta.prot[page] = prot;
        Ok(())
    }

    /// Writes `image` at `offset` of slot `index` behind the page's seal
    /// ([`behind_seal`]: opened to other threads only where nothing else
    /// works). The caller holds the meta lock and has entered the arena's
    /// registry entry (so its key cannot change), and no reference to these
    /// bytes is live.
    fn write_slot(
        &self,
        meta: &mut Meta,
        index: u32,
        offset: usize,
        image: &[u8],
    ) -> Result<(), Error> {
        assert!(offset + image.len() <= self.slot_size, "siegel: write past a slot");
        // SAFETY:
        // - `offset + image.len() <= slot_size`: the range lies in the slot.
        let at = unsafe { self.slot_ptr(index).add(offset) };
        // The canary (a slot's first 16 bytes, whatever the secret's size) as
        // atomic words, as it is read (another thread may check it while this
        // one repairs it); every other byte with plain stores: no thread reads
        // a slot's padding or data while it is written (see `canary_intact`).
        // No location is ever accessed atomically at two sizes.
        assert!(offset % 8 == 0 && (offset == 0 || offset >= CANARY_LEN), "siegel: slot write");
        let words = CANARY_LEN.saturating_sub(offset).min(image.len()) / 8 * 8;
        let copy = || {
            for (i, word) in image[..words].chunks_exact(8).enumerate() {
                // SAFETY:
                // - `8 * i + 8 <= words <= image.len()`: inside the slot.
                let to = unsafe { at.add(8 * i) };
                store_word(to, u64::from_ne_bytes(word.try_into().expect("8 bytes")));
            }
            let rest = &image[words..];
            // SAFETY:
            // - `words + rest.len() == image.len()`: inside the slot, writable by
            //   this thread (`behind_seal::write` stores in place only then),
            //   read by no reference.
            let to = unsafe { at.add(words) };
            // SAFETY:
            // - as above; `image` is ours, in another mapping.
            unsafe { pages::copy(NonNull::from(rest).cast(), to, rest.len()) };
        };
        let page = self.page_of(index);
        let len = sys::page_size();
        let sealed = Sealed {
            pages: self.region.data_pages().slice(page * len, len),
            key: self.region.entry().key(),
            prot: meta.prot[page],
        };
        // SAFETY:
        // - the range lies in the slot, on page `page` of this arena, whose key
        //   cannot change (the caller entered the registry entry) and whose
        //   protection is `meta.prot[page]` (the meta lock, which the caller
        //   holds, serialises every change of it); no reference reads these
        //   bytes (caller); `copy` writes exactly `image` at `at`.
        unsafe { behind_seal::write(sealed, at, Image::Bytes(image), copy) }?;
        Ok(())
    }

    /// The canary-and-padding image of slot `index` for a secret of `size` bytes:
    /// the slot's canary repeated up to the secret.
    fn canary_image(&self, index: u32, size: usize, buf: &mut [u8; MAX_SLOT]) -> usize {
        let canary = &self.canaries[idx(index)];
        let len = self.slot_size - size;
        for (i, b) in buf[..len].iter_mut().enumerate() {
            *b = canary[i % CANARY_LEN];
        }
        len
    }

    /// Whether the canary and padding of slot `index` (secret of `size` bytes)
    /// hold their values: the canary (the first 16 bytes, 32-byte aligned) as
    /// two atomic words, the padding after it (every byte of it) with plain
    /// loads — no thread writes a slot's padding while a scope is open on it
    /// (its format happened before the `READY` its opener loaded, and a wipe
    /// at free needs the handle), so they race with nothing. The slot's page
    /// must be readable by this thread.
    ///
    /// The padding repeats the canary from byte 16 on. Inline: a padding of
    /// whole copies (every secret whose size is a multiple of 16), compared
    /// 16 bytes at a time; any other out of line
    /// ([`padding_intact`](Self::padding_intact)).
    ///
    /// # Safety
    ///
    /// `index < slot_count` (a [`PoolSlot`]'s index): no bounds check here.
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    unsafe fn canary_intact(&self, index: u32, size: usize) -> bool {
        // SAFETY:
        // - `index < slot_count` (caller).
        let start = unsafe { self.slot_ptr_unchecked(index) };
        // SAFETY:
        // - as above.
        let canary = unsafe { self.canary_unchecked(index) };
        let [low, high] = canary_words(canary);
        let len = self.slot_size - size;
        debug_assert!(len >= CANARY_LEN, "siegel: a slot without its canary");
        // SAFETY:
        // - `8 < 16 <= len`: the canary's second word, in the slot before the
        //   secret, readable (caller) and aligned like the slot.
        let diff = (load_word(start) ^ low) | (load_word(unsafe { start.add(8) }) ^ high);
        if len % CANARY_LEN != 0 {
            return diff == 0 && self.padding_intact(start, index, len);
        }
        // `len` is whole copies: the copies from byte 16 to `len`.
        copies_diff(start, len, [low, high], diff) == 0
    }

    /// [`canary_intact`](Self::canary_intact)'s padding (bytes 16 to `len`
    /// of the slot at `start`) where it is not whole copies of the canary:
    /// the last 16 bytes compared first, as one copy rotated by where they
    /// start, then the whole copies between; less than one copy a byte at a
    /// time.
    #[inline(never)]
    fn padding_intact(&self, start: NonNull<u8>, index: u32, len: usize) -> bool {
        let canary = &self.canaries[idx(index)];
        let [low, high] = canary_words(canary);
        let bytes = start.as_ptr();
        let mut diff = 0;
        if len >= 2 * CANARY_LEN {
            let last = len - CANARY_LEN;
            let [first_expected, second_expected] =
                canary_words(&core::array::from_fn(|j| canary[(last + j) % CANARY_LEN]));
            // SAFETY:
            // - `last + 16 == len`: the word lies in the slot before the
            //   secret, readable (caller); any bit pattern is a `u64`;
            //   unaligned read.
            let first = unsafe { bytes.wrapping_add(last).cast::<u64>().read_unaligned() };
            // SAFETY:
            // - as above, the next word.
            let second = unsafe { bytes.wrapping_add(last + 8).cast::<u64>().read_unaligned() };
            diff |= (first ^ first_expected) | (second ^ second_expected);
            // The whole copies between byte 16 and the last 16 bytes.
            diff = copies_diff(start, last, [low, high], diff);
        } else {
            for i in CANARY_LEN..len {
                // SAFETY:
                // - `i < len`: the byte lies in the slot before the secret,
                //   readable.
                let byte = unsafe { bytes.wrapping_add(i).read() };
                diff |= u64::from(byte ^ canary[i % CANARY_LEN]);
            }
        }
        diff == 0
    }

    /// Checks slot `index` when a write scope on it closes (its page still open
    /// for writing in this thread): its own canary, and the next slot's canary
    /// when `next_readable`. Returns the neighbour's index if its canary changed
    /// (the caller repairs it); either finding marks this slot corrupted, so its
    /// next open fails.
    ///
    /// # Safety
    ///
    /// `index < slot_count` (a [`PoolSlot`]'s index): no bounds check here.
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    unsafe fn check_after_write(
        &self,
        index: u32,
        size: usize,
        next_readable: bool,
    ) -> Option<u32> {
        // SAFETY:
        // - `index < slot_count` (caller).
        let own = unsafe { self.canary_intact(index, size) };
        let next = index + 1;
        let mut damaged = None;
        if next_readable && idx(next) < self.slot_count() {
            // SAFETY:
            // - `next < slot_count` (tested above).
            let start = unsafe { self.slot_ptr_unchecked(next) };
            // SAFETY:
            // - as above.
            let canary = unsafe { self.canary_unchecked(next) };
            // SAFETY:
            // - `8 < 16`: the next slot's canary's second word, readable (the
            //   caller's check) and aligned like the slot.
            let found = [load_word(start), load_word(unsafe { start.add(8) })];
            if found != canary_words(canary) {
                damaged = Some(next);
            }
        }
        if !own || damaged.is_some() {
            // Only a slot in use is marked: a slot already poisoned (its page
            // was wiped after a refused re-seal, which also zeroed its padding)
            // stays poisoned, and answers `Poisoned`. The arena is marked
            // first, so that handles' liveness checks read slot states.
            self.region.entry().mark_slot_damaged();
            // SAFETY:
            // - `index < slot_count` (caller).
            let _ = unsafe { self.state_of_unchecked(index) }.compare_exchange(
                state::READY,
                state::CORRUPT,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        damaged
    }

    /// Restores the canary of slot `index` (damaged by its neighbour's overflow).
    /// A failure leaves the slot to report the damage itself at its next open.
    fn repair_canary(&self, meta: &mut Meta, index: u32) {
        let canary = self.canaries[idx(index)];
        let _ = self.write_slot(meta, index, 0, &canary);
    }

    /// Renews the canary and padding of a fresh slot `index` for a secret of
    /// `size` bytes (its data is already zero). Under the meta lock.
    fn format(&self, meta: &mut Meta, index: u32, size: usize) -> Result<(), Error> {
        if self.state_of(index).load(Ordering::Acquire) != state::FRESH {
            return Ok(());
        }
        let mut image = [0u8; MAX_SLOT];
        let len = self.canary_image(index, size, &mut image);
        self.write_slot(meta, index, 0, &image[..len])?;
        self.state_of(index).store(state::READY, Ordering::Release);
        Ok(())
    }

    /// Applies `f` to the open counts of slot `index` and its page (page
    /// protection), changing the page's protection when they call for it.
    /// Opening first renews a fresh slot's canary, the fallible steps before the
    /// bookkeeping; a refused change (opening or closing) changes no count.
    fn change_page(
        &self,
        index: u32,
        size: usize,
        opening: bool,
        f: impl Fn(Counts) -> Counts,
    ) -> Result<(), Error> {
        let mut meta = lock(&self.meta);
        let page = self.page_of(index);
        let next = f(meta.pages[page]);
        if opening && next.prot() == ProtFlags::READ_WRITE {
            // The page becomes writable: open it first (the fallible step), then
            // renew a fresh slot's canary through it — a direct write, which
            // cannot fail, instead of one through `/proc/self/mem`.
            self.set_page(&mut meta, page, next.prot())?;
            self.format(&mut meta, index, size)?;
        } else if opening {
            self.format(&mut meta, index, size)?;
            self.set_page(&mut meta, page, next.prot())?;
        } else {
            // A refused re-seal changes nothing here: the scope stays counted,
            // as for a dedicated region, and the caller decides
            // (`PoolSlot::reseal_failed`, or the error of `try_close`).
            self.set_page(&mut meta, page, next.prot())?;
        }
        meta.pages[page] = next;
        meta.slots[idx(index)] = f(meta.slots[idx(index)]);
        Ok(())
    }

    /// A page could not be narrowed to what `counts` need. With no scope left on
    /// it, every secret on the page is wiped and poisoned and its free slots
    /// retired, so the open page holds no secret; with read scopes left, it stays
    /// writable and is retried at its next change. If a slot cannot be wiped
    /// (`memfd_secret` memory refuses `/proc/self/mem`, and opening the page
    /// needs the same kernel mapping the re-seal lacked), the page is replaced
    /// by fresh inaccessible memory instead — its secrets are gone from the
    /// process — and if even that fails the process aborts rather than leave
    /// secrets readable. Nothing is reported wiped that was not.
    #[cold]
    fn reseal_failed(&self, meta: &mut Meta, page: usize, counts: Counts) {
        // A `fork` parent's arena: no page of it is here (and its addresses may
        // hold mappings of the child's own by now).
        if counts != Counts::ZERO || self.is_inherited() {
            return;
        }
        // Before any slot is wiped or poisoned: handles' liveness checks read
        // slot states from now on.
        self.region.entry().mark_slot_damaged();
        let zeros = [0u8; MAX_SLOT];
        let mut all_wiped = true;
        for i in self.slots_on_page(page) {
            let index = u32::try_from(i).expect("few slots");
            all_wiped &= self
                .write_slot(meta, index, CANARY_LEN, &zeros[..self.slot_size - CANARY_LEN])
                .is_ok();
        }
        for i in self.slots_on_page(page) {
            let state = self.state_of(u32::try_from(i).expect("few slots"));
            match state.load(Ordering::Acquire) {
                state::FREE => {
                    let index = u32::try_from(i).expect("few slots");
                    meta.free.retain(|&f| f != index);
                    state.store(state::RETIRED, Ordering::Release);
                }
                state::RETIRED => {}
                _ => state.store(state::POISONED, Ordering::Release),
            }
        }
        if all_wiped {
            sys::write_ignoring_errors(
                2,
                b"siegel: a pool page could not be re-sealed; its secrets were wiped and poisoned\n",
            );
            return;
        }
        let pages = self.region.data_pages();
        let one = pages.slice(page * sys::page_size(), sys::page_size());
        // SAFETY:
        // - one whole data page of this arena; no scope is open on it (`counts`
        //   is zero) and every slot on it is poisoned or retired, so nothing
        //   will reference it again.
        if unsafe { sys::mmap_fixed_inaccessible(one.ptr(), one.len()) }.is_ok() {
            meta.prot[page] = ProtFlags::NONE;
            sys::write_ignoring_errors(
                2,
                b"siegel: a pool page could be neither re-sealed nor wiped; it was replaced by \
                  inaccessible memory and its secrets poisoned\n",
            );
            return;
        }
        sys::write_ignoring_errors(
            2,
            b"siegel: a pool page holding secrets could be neither re-sealed, wiped nor \
              replaced; aborting rather than leave them readable\n",
        );
        std::process::abort();
    }

    /// Frees slot `index`: gives back scopes leaked on it, wipes it, and returns
    /// it to the free list (or retires it if it could not be wiped).
    fn free(&self, index: u32) {
        let entry = self.region.entry();
        // Entered, so the arena's key cannot move while the slot is wiped.
        entry.enter();
        let mut meta = lock(&self.meta);
        let leaked = core::mem::replace(&mut meta.slots[idx(index)], Counts::ZERO);
        if leaked != Counts::ZERO {
            let page = self.page_of(index);
            let next = meta.pages[page].minus(leaked);
            meta.pages[page] = next;
            if self.set_page(&mut meta, page, next.prot()).is_err() {
                self.reseal_failed(&mut meta, page, next);
            }
            for _ in 0..leaked.total() {
                entry.leave();
            }
        }
        let zeros = [0u8; MAX_SLOT];
        let state = self.state_of(index);
        // A slot still fresh was never opened, so nothing was written into it:
        // its bytes are the zeros the previous free left (or `mmap`'s).
        let wiped = if state.load(Ordering::Acquire) == state::FRESH {
            Ok(())
        } else {
            self.write_slot(&mut meta, index, CANARY_LEN, &zeros[..self.slot_size - CANARY_LEN])
        };
        match wiped {
            Ok(()) if state.load(Ordering::Acquire) != state::RETIRED => {
                state.store(state::FREE, Ordering::Release);
                meta.free.push(index);
            }
            Ok(()) => {}
            Err(_) => {
                state.store(state::RETIRED, Ordering::Release);
                sys::write_ignoring_errors(
                    2,
                    b"siegel: a freed pooled secret could not be wiped; its slot is retired \
                      until the arena is unmapped\n",
                );
            }
        }
        meta.in_use -= 1;
        let empty = meta.in_use == 0;
        drop(meta);
        entry.leave();
        self.live.fetch_sub(1, Ordering::AcqRel);
        if empty && self.region.is_poisoned() {
            if let Some(pool) = self.pool.upgrade() {
                pool.discard(self.class, self);
            }
        }
    }
}

/// `index` as a `usize` (slot indices are below 2^12).
fn idx(index: u32) -> usize {
    usize::try_from(index).expect("slot index fits usize")
}

/// The canary's two halves as words, as [`load_word`] reads them.
fn canary_words(canary: &[u8; CANARY_LEN]) -> [u64; 2] {
    let half = |at: usize| u64::from_ne_bytes(canary[at..at + 8].try_into().expect("8 bytes"));
    [half(0), half(8)]
}

/// `diff` with the bits set in which the 16-byte copies of the canary at bytes
/// 16, 32, … below `end` of the slot at `start` differ from the canary's two
/// words (none if every byte holds its value). Each copy lies in the slot's
/// padding: the caller's `end` is the padding's length when that is whole
/// copies, else 16 less. Plain unaligned loads (see [`Arena::canary_intact`]:
/// nothing writes a slot's padding while a scope is open on it); the bytes
/// must be readable by this thread.
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn copies_diff(start: NonNull<u8>, end: usize, [low, high]: [u64; 2], mut diff: u64) -> u64 {
    let bytes = start.as_ptr();
    let mut i = CANARY_LEN;
    while i < end {
        // SAFETY:
        // - `i < end`, so the 16 bytes at `i` lie in the padding (the caller's
        //   `end`, above), before the secret, readable (caller); unaligned reads.
        let first = unsafe { bytes.wrapping_add(i).cast::<u64>().read_unaligned() };
        // SAFETY:
        // - as above, the next word.
        let second = unsafe { bytes.wrapping_add(i + 8).cast::<u64>().read_unaligned() };
        diff |= (first ^ low) | (second ^ high);
        i += CANARY_LEN;
    }
    diff
}

/// Loads one aligned word of a slot's canary. Atomic, because another thread
/// may repair a neighbour's canary (under the arena lock) while this one
/// checks it; the canary's bytes are only ever accessed as these words.
#[allow(clippy::cast_ptr_alignment, reason = "callers pass 8-aligned words")]
#[inline]
fn load_word(at: NonNull<u8>) -> u64 {
    debug_assert!(at.as_ptr().addr() % 8 == 0, "siegel: unaligned canary word");
    // SAFETY:
    // - callers pass one of the two 8-aligned words of a slot's canary (its first
    //   16 bytes), readable by this thread, which siegel accesses only
    //   atomically and only as words (`write_slot` stores them as words) [1].
    //
    // [1] https://doc.rust-lang.org/core/sync/atomic/struct.AtomicU64.html#method.from_ptr
    unsafe { AtomicU64::from_ptr(at.as_ptr().cast::<u64>()) }.load(Ordering::Relaxed)
}

/// Stores one aligned word of a slot (see [`load_word`]).
#[allow(clippy::cast_ptr_alignment, reason = "callers pass 8-aligned words")]
fn store_word(at: NonNull<u8>, word: u64) {
    debug_assert!(at.as_ptr().addr() % 8 == 0, "siegel: unaligned slot word");
    // SAFETY:
    // - callers pass an 8-aligned word of a slot, writable by this thread, that no
    //   reference reads; see `load_word`.
    unsafe { AtomicU64::from_ptr(at.as_ptr().cast::<u64>()) }.store(word, Ordering::Relaxed);
}

/// A secret's slot in a pool arena.
#[derive(Debug)]
pub(crate) struct PoolSlot {
    arena: Arc<Arena>,
    index: u32,
    /// Bytes of the secret (at most 2032).
    size: u32,
}

impl PoolSlot {
    /// Slot `index` of `arena`, holding a secret of `size` bytes.
    ///
    /// # Panics
    ///
    /// If `index` is not one of the arena's slots. The check is made here
    /// once: `index` never changes, so the slot's hot path indexes the
    /// arena's per-slot tables without one ([`state`](Self::state)).
    pub(super) fn new(arena: Arc<Arena>, index: u32, size: usize) -> Self {
        assert!(idx(index) < arena.slot_count(), "siegel: slot index out of range");
        Self { arena, index, size: u32::try_from(size).expect("slot sizes are small") }
    }

    /// This slot's state (one of the [`state`] constants).
    #[inline]
    fn state(&self) -> &AtomicU8 {
        // SAFETY:
        // - `index < slot_count`: checked in `new`, and neither changes.
        unsafe { self.arena.state_of_unchecked(self.index) }
    }

    /// [`Arena::canary_intact`] for this slot.
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    fn canary_intact(&self) -> bool {
        // SAFETY:
        // - `index < slot_count`: checked in `new`, and neither changes.
        unsafe { self.arena.canary_intact(self.index, self.size()) }
    }

    /// [`Arena::check_after_write`] for this slot.
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    fn check_after_write(&self, next_readable: bool) -> Option<u32> {
        // SAFETY:
        // - `index < slot_count`: checked in `new`, and neither changes.
        unsafe { self.arena.check_after_write(self.index, self.size(), next_readable) }
    }

    /// The pool this slot came from, if it is still alive.
    pub(crate) fn pool(&self) -> Option<Arc<PoolInner>> {
        self.arena.pool.upgrade()
    }

    pub(crate) fn region(&self) -> &Region {
        &self.arena.region
    }

    /// The first byte of the secret (right-aligned in the slot).
    pub(crate) fn data(&self) -> NonNull<u8> {
        // SAFETY:
        // - `slot_size - size >= CANARY_LEN`: the secret lies inside the slot.
        unsafe { self.arena.slot_ptr(self.index).add(self.arena.slot_size - self.size()) }
    }

    pub(crate) fn size(&self) -> usize {
        usize::try_from(self.size).expect("slot sizes are small")
    }

    /// Whether this slot was poisoned or found corrupted on its own.
    #[inline]
    pub(crate) fn is_poisoned(&self) -> bool {
        matches!(self.state().load(Ordering::Acquire), state::POISONED | state::CORRUPT)
    }

    /// A fresh slot's first keyed scope: its canary and padding, then the check.
    #[cold]
    #[inline(never)]
    fn format_and_check(&self) -> Result<(), Error> {
        let arena = &self.arena;
        arena.format(&mut lock(&arena.meta), self.index, self.size())?;
        self.check()
    }
}

impl Scoped for PoolSlot {
    /// A slot's page opens alone: another slot's read says nothing of it.
    const NESTS: bool = false;

    fn entry(&self) -> &'static Entry {
        self.arena.region.entry()
    }

    fn open_pages(&self, access: Access) -> Result<(), Error> {
        self.arena.change_page(self.index, self.size(), true, |c| c.add(access))
    }

    fn close_pages(&self, access: Access) -> Result<(), Error> {
        self.arena.change_page(self.index, self.size(), false, |c| c.sub(access))
    }

    /// `false`: an arena's page counts are per page, under its lock
    /// ([`open_pages`](Scoped::open_pages) takes it).
    #[inline]
    fn share(&self, _access: Access) -> bool {
        false
    }

    /// `false`, as [`share`](Scoped::share).
    #[inline]
    fn unshare(&self, _access: Access) -> bool {
        false
    }

    /// The slot's canaries; a fresh slot's first scope writes them first
    /// (under page protection, `open_pages` did already).
    #[inline]
    fn check(&self) -> Result<(), Error> {
        match self.state().load(Ordering::Acquire) {
            state::READY if self.canary_intact() => Ok(()),
            state::READY | state::CORRUPT => Err(Error::CanaryCorrupted),
            state::FRESH => self.format_and_check(),
            _ => Err(Error::Poisoned),
        }
    }

    /// As [`check`](Self::check): a fresh slot is formatted first (out of
    /// line), so that a scope never closes on a slot without its canaries.
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    fn intact(&self) -> bool {
        #[cold]
        #[inline(never)]
        fn fresh(slot: &PoolSlot) -> bool {
            slot.format_and_check().is_ok()
        }
        match self.state().load(Ordering::Acquire) {
            state::READY => self.canary_intact(),
            state::FRESH => fresh(self),
            _ => false,
        }
    }

    /// Checks the canaries around the slot while its page is still open (see
    /// [`Arena::check_after_write`]). Under the arena's key the whole arena is
    /// open to this thread; under page protection the next slot is readable if
    /// its page is open.
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    fn after_write(&self) {
        /// A neighbour's canary to repair: under the arena lock, out of line.
        #[cold]
        #[inline(never)]
        fn repair(arena: &Arena, damaged: u32) {
            arena.repair_canary(&mut lock(&arena.meta), damaged);
        }
        /// Page protection: the lock keeps the next page as open as
        /// `meta.prot` says while its canary is read.
        #[inline(never)]
        fn under_page_protection(slot: &PoolSlot) {
            let arena = &slot.arena;
            let mut meta = lock(&arena.meta);
            let next_page = arena.page_of(slot.index + 1);
            let readable = meta.prot.get(next_page).is_some_and(|&p| p != ProtFlags::NONE);
            if let Some(damaged) = slot.check_after_write(readable) {
                arena.repair_canary(&mut meta, damaged);
            }
        }
        let arena = &self.arena;
        if arena.region.entry().key().is_none() {
            return under_page_protection(self);
        }
        // The key cannot move while this scope is counted: no lock unless a
        // neighbour's canary needs repair.
        if let Some(damaged) = self.check_after_write(true) {
            repair(arena, damaged);
        }
    }

    /// As a dedicated region's: the scope is given back, and with no scope
    /// left on the page its secrets are wiped and poisoned
    /// ([`Arena::reseal_failed`]); with scopes left it stays as open as they
    /// need, and is narrowed at its next change.
    fn reseal_failed(&self, access: Access) {
        let arena = &self.arena;
        let mut meta = lock(&arena.meta);
        let page = arena.page_of(self.index);
        let next = meta.pages[page].sub(access);
        arena.reseal_failed(&mut meta, page, next);
        meta.pages[page] = next;
        meta.slots[idx(self.index)] = meta.slots[idx(self.index)].sub(access);
        drop(meta);
        self.entry().leave();
    }
}

impl Drop for PoolSlot {
    fn drop(&mut self) {
        // In a fork child the arena is absent (MADV_DONTFORK): touch nothing.
        if sys::getpid() != self.arena.owner_pid {
            return;
        }
        self.arena.free(self.index);
    }
}
