//! Pools: many small secrets sharing guarded arenas.
//!
//! One guarded region per secret costs three mappings, a page of locked memory
//! and several microseconds. A [`Pool`] packs secrets of similar size into
//! *arenas* — ordinary siegel regions (guard pages, `mlock`, `DONTDUMP`,
//! `DONTFORK`, a key or page protection, registered for lockdown and crash wipes)
//! cut into fixed-size slots:
//!
//! ```text
//!  slot (class size S, aligned to S)
//!  +-----------------+-----------------+---------------------+
//!  | canary (16 B)   | zero padding    | secret (s bytes)    |  next slot's canary ...
//!  +-----------------+-----------------+---------------------+
//! ```
//!
//! Each slot has its own random canary. The secret ends where the next slot's
//! canary begins, so a one-byte overflow corrupts the neighbour's canary (reported
//! when the neighbour opens); a one-byte underflow hits the zero padding or this
//! slot's canary (reported when this slot opens). The last slot's overflow hits the
//! arena's guard page. Free lists, slot states and reference canaries live in
//! ordinary heap memory — a different mapping from the data, out of reach of an
//! overflow in a data page.
//!
//! # Isolation granularity
//!
//! - Under protection keys an arena shares one key: a scope on one slot opens the
//!   whole arena to this thread.
//! - Under page protection a scope opens the slot's page (4 KiB: up to 127
//!   neighbouring 32-byte secrets) to every thread.
//!
//! Use dedicated regions ([`Protected::zeroed`](crate::Protected::zeroed)) for
//! secrets that must not share a page with others.
//!
//! # Wiping
//!
//! A freed slot is wiped before anyone can read its page again: at once under
//! protection keys (no system call) or when its page is open; otherwise it is
//! marked dirty and wiped the next time its page is opened, before the scope gets
//! access — so freeing costs no system call, and a stale pointer never reads the
//! old secret.

use core::{
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};
use std::sync::{Arc, Mutex, Weak};

use super::{lock, pkru, Access, Counts, Region};
use crate::{
    backend::Options,
    sys::{self, ProtFlags},
    Error,
};

/// Slot sizes; a secret of `s` bytes goes to the smallest class of at least
/// `s + 16` (its canary) whose size is a multiple of its alignment.
const CLASSES: [usize; 7] = [32, 64, 128, 256, 512, 1024, 2048];

/// Bytes of data pages per arena (16 pages).
const ARENA_BYTES: usize = 64 * 1024;

/// Length of each slot's canary.
const SLOT_CANARY: usize = 16;

/// A pool of guarded arenas for many small secrets (see the module docs).
///
/// Cheap to clone (shared); `Send` and `Sync`.
///
/// # Examples
///
/// ```
/// use siegel::{Pool, Protected};
///
/// let pool = Pool::new();
/// let keys: Vec<Protected<[u8; 32]>> =
///     (0..1000u16).map(|i| pool.init_with(|k: &mut [u8; 32]| k[0] = i as u8)).collect::<Result<_, _>>()?;
/// assert_eq!(keys[7].read()?[0], 7);
/// # Ok::<(), siegel::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
pub(crate) struct PoolInner {
    options: Options,
    max_secrets: usize,
    /// Live secrets; shared with the arenas, which outlive the pool while their
    /// slots do.
    live: Arc<AtomicUsize>,
    classes: [Mutex<Class>; CLASSES.len()],
}

#[derive(Debug, Default)]
struct Class {
    arenas: Vec<Arc<Arena>>,
    /// An arena that had a free slot at the last allocation.
    hint: usize,
}

impl Default for Pool {
    fn default() -> Self {
        Self::new()
    }
}

impl Pool {
    /// A pool whose arenas use [`Options::default`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_options(Options::default())
    }

    /// A pool whose arenas are made with `options` (backend, mlock and memory
    /// policies).
    #[must_use]
    pub fn with_options(options: Options) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                options,
                max_secrets: usize::MAX,
                live: Arc::new(AtomicUsize::new(0)),
                classes: Default::default(),
            }),
        }
    }

    /// Limits the number of live secrets; past it, allocation fails with
    /// [`Error::PoolExhausted`]. Must be set before the pool is shared.
    ///
    /// # Panics
    ///
    /// If the pool was already cloned.
    #[must_use]
    pub fn max_secrets(mut self, max: usize) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("siegel: set max_secrets before sharing the pool")
            .max_secrets = max;
        self
    }

    /// Live secrets in this pool.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// Whether no secret of this pool is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Arenas (guarded regions) this pool has mapped.
    #[must_use]
    pub fn arenas(&self) -> usize {
        self.inner.classes.iter().map(|c| lock(c).arenas.len()).sum()
    }

    pub(crate) fn inner(&self) -> &Arc<PoolInner> {
        &self.inner
    }

    pub(crate) fn options(&self) -> Options {
        self.inner.options
    }
}

impl PoolInner {
    /// A zeroed slot for `size` bytes aligned to `align`, or `Ok(None)` if the
    /// secret is too large for any class (the caller makes a dedicated region).
    pub(crate) fn alloc(
        self: &Arc<Self>,
        size: usize,
        align: usize,
    ) -> Result<Option<PoolSlot>, Error> {
        let Some(class) = CLASSES
            .iter()
            .position(|&c| c >= size.saturating_add(SLOT_CANARY) && c % align.max(1) == 0)
        else {
            return Ok(None);
        };
        let live = self.live.fetch_add(1, Ordering::AcqRel);
        if live >= self.max_secrets {
            self.live.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::PoolExhausted { capacity: self.max_secrets });
        }
        match self.alloc_in(class, size) {
            Ok(slot) => Ok(Some(slot)),
            Err(err) => {
                self.live.fetch_sub(1, Ordering::AcqRel);
                Err(err)
            }
        }
    }

    fn alloc_in(self: &Arc<Self>, class: usize, size: usize) -> Result<PoolSlot, Error> {
        let mut list = lock(&self.classes[class]);
        let count = list.arenas.len();
        for step in 0..count {
            let at = (list.hint + step) % count;
            // A wiped (locked-down) arena serves no new secrets.
            if list.arenas[at].region.is_poisoned() {
                continue;
            }
            if let Some(index) = list.arenas[at].take() {
                list.hint = at;
                let arena = Arc::clone(&list.arenas[at]);
                return Ok(PoolSlot::new(arena, index, size));
            }
        }
        let arena = Arc::new(Arena::new(CLASSES[class], self)?);
        let index = arena.take().expect("a fresh arena has free slots");
        list.arenas.push(Arc::clone(&arena));
        list.hint = list.arenas.len() - 1;
        Ok(PoolSlot::new(arena, index, size))
    }
}

/// One arena: a guarded region cut into `slot_count` slots of `slot_size` bytes.
#[derive(Debug)]
pub(crate) struct Arena {
    region: Region,
    slot_size: usize,
    slots_per_page: usize,
    /// Reference canaries, one per slot (heap: a separate mapping).
    canaries: Box<[[u8; SLOT_CANARY]]>,
    meta: Mutex<Meta>,
    /// The pool, for rotation (weak: the pool owns its arenas).
    pool: Weak<PoolInner>,
    live: Arc<AtomicUsize>,
    owner_pid: u32,
}

#[derive(Debug)]
struct Meta {
    free: Vec<u32>,
    /// Freed slots not wiped yet; only ever on sealed pages.
    dirty: Vec<bool>,
    /// Open counts per page (page protection).
    pages: Vec<Counts>,
}

impl Arena {
    fn new(slot_size: usize, pool: &Arc<PoolInner>) -> Result<Self, Error> {
        let options = pool.options;
        // One slot less than fits, so the region's own canary shares the 16 pages.
        let slot_count = ARENA_BYTES / slot_size - 1;
        let region = Region::new(slot_count * slot_size, slot_size, options)?;
        let page = sys::page_size();
        let mut random = vec![0u8; slot_count * SLOT_CANARY];
        sys::getrandom(&mut random).map_err(|source| Error::Random { source })?;
        let canaries: Box<[[u8; SLOT_CANARY]]> =
            random.chunks_exact(SLOT_CANARY).map(|c| c.try_into().expect("16 bytes")).collect();
        region.open(Access::Write)?;
        for (i, canary) in canaries.iter().enumerate() {
            // SAFETY:
            // - slot `i` lies inside the region's data (`i < slot_count`).
            let slot = unsafe { region.data().add(i * slot_size) };
            // SAFETY:
            // - the slot's first 16 bytes are inside the data, open for writing; the
            //   source is heap memory, so the two cannot overlap.
            unsafe { slot.copy_from_nonoverlapping(NonNull::from(canary).cast(), SLOT_CANARY) };
        }
        region.close_or_poison(Access::Write);
        let pages = (slot_count * slot_size).div_ceil(page) + 1;
        Ok(Self {
            region,
            slot_size,
            slots_per_page: page / slot_size,
            canaries,
            meta: Mutex::new(Meta {
                free: (0..u32::try_from(slot_count).expect("few slots")).rev().collect(),
                dirty: vec![false; slot_count],
                pages: vec![Counts::ZERO; pages],
            }),
            pool: Arc::downgrade(pool),
            live: Arc::clone(&pool.live),
            owner_pid: sys::getpid(),
        })
    }

    fn take(&self) -> Option<u32> {
        lock(&self.meta).free.pop()
    }

    /// Start of slot `index`.
    fn slot_ptr(&self, index: u32) -> NonNull<u8> {
        let offset = usize::try_from(index).expect("index") * self.slot_size;
        // SAFETY:
        // - `index < slot_count`, so the slot lies inside the region's data.
        unsafe { self.region.data().add(offset) }
    }

    /// Index into `Meta::pages` of the page holding slot `index`.
    fn page_of(&self, index: u32) -> usize {
        let addr = self.slot_ptr(index).as_ptr().addr();
        let first = self.region.data_pages.as_ptr().addr();
        (addr - first) / sys::page_size()
    }

    /// Changes the protection of the page holding slot `index`.
    fn protect_page(&self, index: u32, prot: ProtFlags) -> Result<(), Error> {
        let page = sys::page_size();
        let at = self.page_of(index) * page;
        // SAFETY:
        // - `at` is a page offset inside the data pages; the page is ours and the
        //   arena lock is held, so narrowing happens only when the page's count is 0.
        let start = unsafe { self.region.data_pages.add(at) };
        // SAFETY:
        // - as above: one page of our data pages.
        unsafe { sys::mprotect(start, page, prot) }
            .map_err(|source| Error::Protect { call: "mprotect", source })
    }

    /// Applies `f` to the open counts of the page holding slot `index` (page
    /// protection), changing the page's protection when they call for it. A page
    /// that opens from sealed first has its dirty slots wiped, so stale secrets
    /// are gone before anyone can read the page.
    fn change_page(&self, index: u32, f: impl FnOnce(Counts) -> Counts) -> Result<(), Error> {
        let mut meta = lock(&self.meta);
        let page = self.page_of(index);
        let counts = meta.pages[page];
        let next = f(counts);
        if counts == Counts::ZERO && next != Counts::ZERO && self.dirty_on_page(&meta, index) {
            self.protect_page(index, ProtFlags::READ_WRITE)?;
            self.wipe_dirty_on_page(&mut meta, index);
            self.protect_page(index, next.prot())?;
        } else if counts.prot() != next.prot() {
            self.protect_page(index, next.prot())?;
        }
        meta.pages[page] = next;
        Ok(())
    }

    /// Zeroes slot `index` after its canary. The page must be writable by this
    /// thread.
    fn wipe_slot(&self, index: u32) {
        let start = self.slot_ptr(index).as_ptr().expose_provenance() + SLOT_CANARY;
        let len = self.slot_size - SLOT_CANARY;
        let base = core::ptr::with_exposed_provenance_mut::<u8>(start);
        for i in 0..len {
            // SAFETY:
            // - the bytes after the canary up to the slot's end lie inside the
            //   slot, writable as the caller guarantees; volatile so the stores stay.
            unsafe { base.wrapping_add(i).write_volatile(0) };
        }
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    }

    /// Indices of the slots on the page holding slot `index`. Slot `i` starts at
    /// offset `(i + 1) * slot_size` of the data pages (the region's canary sits in
    /// the first slot-sized block), and no slot straddles a page.
    fn slots_on_page_of(&self, index: u32) -> core::ops::Range<usize> {
        let page = self.page_of(index) * self.slots_per_page;
        let count = self.canaries.len();
        page.saturating_sub(1).min(count)..(page + self.slots_per_page - 1).min(count)
    }

    /// Whether a dirty slot shares the page of slot `index`.
    fn dirty_on_page(&self, meta: &Meta, index: u32) -> bool {
        meta.dirty.get(self.slots_on_page_of(index)).is_some_and(|d| d.contains(&true))
    }

    /// Wipes the dirty slots on the page of slot `index` (the page must be
    /// writable by this thread).
    fn wipe_dirty_on_page(&self, meta: &mut Meta, index: u32) {
        for i in self.slots_on_page_of(index) {
            if meta.dirty.get(i).copied().unwrap_or(false) {
                self.wipe_slot(u32::try_from(i).expect("index"));
                meta.dirty[i] = false;
            }
        }
    }
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
    fn new(arena: Arc<Arena>, index: u32, size: usize) -> Self {
        Self { arena, index, size: u32::try_from(size).expect("slot sizes are small") }
    }

    /// The pool this slot came from, if it is still alive.
    pub(crate) fn pool(&self) -> Option<Arc<PoolInner>> {
        self.arena.pool.upgrade()
    }

    pub(crate) fn options(&self) -> Options {
        self.arena.region.options()
    }

    pub(crate) fn region(&self) -> &Region {
        &self.arena.region
    }

    /// The first byte of the secret (right-aligned in the slot).
    pub(crate) fn data(&self) -> NonNull<u8> {
        // SAFETY:
        // - `slot_size - size >= SLOT_CANARY`: the secret lies inside the slot.
        unsafe { self.arena.slot_ptr(self.index).add(self.arena.slot_size - self.size()) }
    }

    pub(crate) fn size(&self) -> usize {
        usize::try_from(self.size).expect("slot sizes are small")
    }

    /// Opens `access` on this slot's page (page protection) or the arena's key.
    pub(crate) fn open(&self, access: Access) -> Result<(), Error> {
        let slot = self.arena.region.slot;
        slot.admit()?;
        if let Err(err) = self.open_entered(access) {
            slot.leave();
            return Err(err);
        }
        if self.canary_intact() {
            Ok(())
        } else {
            self.close_or_poison(access);
            Err(Error::CanaryCorrupted)
        }
    }

    fn open_entered(&self, access: Access) -> Result<(), Error> {
        let arena = &self.arena;
        match arena.region.slot.key() {
            0 => arena.change_page(self.index, |c| c.add(access)),
            key => {
                arena.region.slot.touch();
                pkru::update(key, |c| c.add(access));
                Ok(())
            }
        }
    }

    /// Closes `access`.
    pub(crate) fn close(&self, access: Access) -> Result<(), Error> {
        let arena = &self.arena;
        match arena.region.slot.key() {
            0 => arena.change_page(self.index, |c| c.sub(access))?,
            key => pkru::update(key, |c| c.sub(access)),
        }
        arena.region.slot.leave();
        Ok(())
    }

    /// Closes `access`; on failure poisons the whole arena, wiped by the region
    /// core when its last scope closes.
    pub(crate) fn close_or_poison(&self, access: Access) {
        if self.close(access).is_err() {
            let region = &self.arena.region;
            region.slot.poison();
            region.slot.leave();
        }
    }

    /// Checks the slot's canary and the zero padding between it and the secret.
    fn canary_intact(&self) -> bool {
        let start = self.arena.slot_ptr(self.index);
        let expected = self.arena.canaries[usize::try_from(self.index).expect("index")];
        let pad = self.arena.slot_size - self.size();
        let mut diff = 0u8;
        for i in 0..pad {
            // SAFETY:
            // - `i < slot_size - size`: the byte lies in the slot before the secret.
            let byte = unsafe { start.add(i) };
            // SAFETY:
            // - the slot's page is readable while this scope is open; volatile because
            //   an overflow may have changed it behind the compiler's back.
            let found = unsafe { byte.read_volatile() };
            diff |= found ^ expected.get(i).copied().unwrap_or(0);
        }
        diff == 0
    }
}

impl Drop for PoolSlot {
    fn drop(&mut self) {
        // In a fork child the arena is absent (MADV_DONTFORK): touch nothing.
        if sys::getpid() != self.arena.owner_pid {
            return;
        }
        let arena = &self.arena;
        let slot = arena.region.slot;
        slot.enter();
        {
            let mut meta = lock(&arena.meta);
            if !slot.is_poisoned() {
                match slot.key() {
                    0 => {
                        let counts = meta.pages[arena.page_of(self.index)];
                        if counts.writes > 0 {
                            arena.wipe_slot(self.index);
                        } else if counts.reads > 0 {
                            let wiped =
                                arena.protect_page(self.index, ProtFlags::READ_WRITE).is_ok();
                            if wiped {
                                arena.wipe_slot(self.index);
                            }
                            let _ = arena.protect_page(self.index, ProtFlags::READ);
                            if !wiped {
                                slot.poison();
                            }
                        } else {
                            meta.dirty[usize::try_from(self.index).expect("index")] = true;
                        }
                    }
                    key => pkru::with_write_access(key, || arena.wipe_slot(self.index)),
                }
            }
            meta.free.push(self.index);
        }
        slot.leave();
        self.arena.live.fetch_sub(1, Ordering::AcqRel);
    }
}
