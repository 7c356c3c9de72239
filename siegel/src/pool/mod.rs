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
//! A freed slot is wiped before `drop` returns, on every backend, and no "dirty,
//! wiped later" state exists: under a protection key the dropping thread gives
//! itself write access for the wipe (no system call); on page protection a page
//! that is open for writing is wiped directly, and a sealed or read-only page is
//! written through `/proc/self/mem` (one `pwrite`, ~0.9 µs, which never makes the
//! page accessible to any thread), falling back to an open–wipe–re-seal with
//! `mprotect` where `/proc` is unavailable or refuses (shared and `memfd_secret`
//! arenas). If even that fails, the slot is retired — never handed out again —
//! and the failure is written to standard error; its bytes go when the arena is
//! unmapped.
//!
//! # Canaries
//!
//! Every byte between a slot's start and its secret is canary: 16 random bytes
//! per slot, none of them zero, then the same bytes repeated over the padding.
//! A one-byte underflow changes a canary byte whatever value it writes (a zero
//! included), and is reported when the secret next opens. A one-byte overflow
//! lands in the next slot's canary: when a write scope closes (its page still
//! open) the slot checks its own canary and the next slot's, repairs the
//! neighbour's and marks *itself* corrupted, so the writer's next open fails with
//! [`Error::CanaryCorrupted`] and the innocent neighbour keeps working — unless the
//! overflow reached past the neighbour's 16 canary bytes into its padding, in
//! which case the neighbour fails too (its own bytes may be damaged). A slot's
//! canary and padding are renewed when the slot is first opened after being
//! handed out, so a fresh secret never inherits an old corruption.
//!
//! # At the process's limits
//!
//! Each page of an arena is a kernel mapping of its own that never merges with
//! its neighbours ([`Region::new_arena`](crate::region::Region::new_arena)), so opening or sealing a page changes
//! one mapping in place and needs no new map entry: it cannot fail at
//! `vm.max_map_count`. Should a re-seal fail anyway, the page is never left
//! more open than its counted scopes while holding secrets: with no scope left on
//! it, every secret on the page is wiped and poisoned and the page retired; with
//! read scopes left, the page stays writable too and is re-sealed at its next
//! change. A poisoned arena is unmapped when its last secret drops.
//!
//! An arena backed by `memfd_secret` memory
//! ([`MemoryPolicy::PreferSecret`](crate::MemoryPolicy::PreferSecret) or
//! [`RequireSecret`](crate::MemoryPolicy::RequireSecret)) is a shared mapping,
//! which cannot carry the flag that keeps anonymous pages apart; its pages are
//! kept apart by another (`MADV_RANDOM` on every other page), with the same
//! effect. Frees on such an arena cannot use `/proc/self/mem` (the kernel
//! refuses it for secret memory) and wipe by opening the page briefly. Should a
//! re-seal fail anyway and the page's secrets be impossible to wipe, the page
//! is replaced by fresh inaccessible memory (its secrets poisoned, as above);
//! if even that fails, the process aborts rather than leave them readable.
//! Nothing is reported wiped that was not.

mod arena;

use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use self::arena::Arena;
pub(crate) use self::arena::PoolSlot;
use crate::{error::Error, options::Options, pages::CANARY_LEN, sync::lock};

/// Slot sizes; a secret of `s` bytes goes to the smallest class of at least
/// `s + 16` (its canary) whose size is a multiple of its alignment.
pub(crate) const CLASSES: [usize; 7] = [32, 64, 128, 256, 512, 1024, 2048];

/// Bytes of data pages per arena (16 pages). Under Miri 2 pages: the same code
/// (more than one page, so a slot's page opens alone; every class, the largest
/// three to an arena), an eighth of the bytes to create, check and wipe, which
/// Miri's clock pays for byte by byte.
pub(crate) const ARENA_BYTES: usize = if cfg!(miri) { 8 * 1024 } else { 64 * 1024 };

/// A pool of guarded arenas for many small secrets (see the module docs).
///
/// A [`Place`](crate::Place): every constructor puts its secret in a slot when
/// given `&pool`. Cheap to clone (shared); `Send` and `Sync`.
///
/// # Examples
///
/// ```
/// use siegel::{Pool, Protected};
///
/// let pool = Pool::new();
/// let keys: Vec<Protected<[u8; 32]>> = (0..1000u16)
///     .map(|i| Protected::init_with_in(&pool, |k: &mut [u8; 32]| k[0] = i as u8))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(keys[7].read()?[0], 7);
/// # Ok::<(), siegel::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
pub(crate) struct PoolInner {
    pub(crate) options: Options,
    max_secrets: usize,
    /// Live secrets; shared with the arenas, which outlive the pool while their
    /// slots do.
    pub(crate) live: Arc<AtomicUsize>,
    classes: [Mutex<Class>; CLASSES.len()],
}

#[derive(Debug, Default)]
struct Class {
    arenas: Vec<Arc<Arena>>,
    /// An arena that had a free slot at the last allocation.
    hint: usize,
}

/// What a [`Pool`] holds ([`Pool::info`]): a snapshot, for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolInfo {
    /// Live secrets in the pool.
    pub secrets: usize,
    /// Arenas (guarded regions) the pool has mapped.
    pub arenas: usize,
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

    /// How many secrets live in this pool, and in how many arenas, for
    /// diagnostics.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Pool, Protected};
    ///
    /// let pool = Pool::new();
    /// let keys = [Protected::<[u8; 32]>::zeroed_in(&pool)?, Protected::zeroed_in(&pool)?];
    /// assert_eq!(pool.info().secrets, 2);
    /// assert_eq!(pool.info().arenas, 1);
    /// drop(keys);
    /// assert_eq!(pool.info().secrets, 0);
    /// # Ok::<(), siegel::Error>(())
    /// ```
    #[must_use]
    pub fn info(&self) -> PoolInfo {
        PoolInfo {
            secrets: self.inner.live.load(Ordering::Relaxed),
            arenas: self.inner.classes.iter().map(|c| lock(c).arenas.len()).sum(),
        }
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
            .position(|&c| c >= size.saturating_add(CANARY_LEN) && c % align.max(1) == 0)
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
        // A poisoned (locked-down) arena serves no new secrets; once its last
        // secret is gone, nothing but this list holds it: unmap it.
        list.arenas.retain(|arena| !(arena.is_poisoned() && Arc::strong_count(arena) == 1));
        // In a `fork` child the parent's arenas are absent (MADV_DONTFORK): the
        // child's secrets go to arenas of its own.
        list.arenas.retain(|arena| !arena.is_inherited());
        let count = list.arenas.len();
        for step in 0..count {
            let at = (list.hint + step) % count;
            if list.arenas[at].is_poisoned() {
                continue;
            }
            if let Some(index) = list.arenas[at].take() {
                list.hint = at;
                let arena = Arc::clone(&list.arenas[at]);
                return Ok(PoolSlot::new(arena, index, size));
            }
        }
        let arena = Arc::new(Arena::new(class, self)?);
        let index = arena.take().expect("a fresh arena has free slots");
        list.arenas.push(Arc::clone(&arena));
        list.hint = list.arenas.len() - 1;
        Ok(PoolSlot::new(arena, index, size))
    }

    /// Forgets the arena at `arena` of class `class` (poisoned, and its last
    /// secret gone), so that it is unmapped.
    fn discard(&self, class: usize, arena: *const Arena) {
        lock(&self.classes[class]).arenas.retain(|a| !core::ptr::eq(Arc::as_ptr(a), arena));
    }
}
