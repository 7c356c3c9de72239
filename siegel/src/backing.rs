//! What a handle owns — its [`Backing`]: a dedicated region or a pool slot, plus
//! the access the handle itself holds open (its typestate). Every scope goes
//! through the one protocol of [`crate::scope`].

use core::ptr::NonNull;
use std::sync::Arc;

use crate::{
    access::Access,
    error::Error,
    options::{Mechanism, Memory, Options},
    pool::{PoolInner, PoolSlot},
    region::{Region, RegionScopes},
    registry::{self, Entry, Seal},
    scope::{self, Fast, Scoped as _},
};

/// The storage behind one `Protected` handle. `held` is the access the owning
/// handle keeps open (its typestate), if any; it sits inside each variant so the
/// handle stays small (pooled secrets are many: 32 bytes a handle).
#[derive(Debug)]
pub(crate) struct Backing {
    /// The registry entry of the region holding the secret (the arena's, for
    /// a pool slot), at one place whatever the kind: a deref's liveness check
    /// is one load of its seal and one test.
    entry: &'static Entry,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// `scopes` runs from the region's registry entry, kept here so that scopes
    /// reach it without touching the boxed `Region` (a heap page fewer per scope).
    Dedicated {
        region: Box<Region>,
        scopes: RegionScopes,
        held: Option<Access>,
    },
    Pooled {
        slot: PoolSlot,
        held: Option<Access>,
    },
}

impl Backing {
    /// A new zeroed backing for `size` bytes aligned to `align`: a slot of `pool`
    /// if it has a class that fits, else (or without a pool) a dedicated region
    /// made with `options`. The one place that decides between the two.
    ///
    /// # Errors
    ///
    /// As [`Region::new`], [`Error::PoolExhausted`], and [`Error::Reentrant`]
    /// from a signal handler that interrupted this thread inside siegel.
    pub(crate) fn new(
        size: usize,
        align: usize,
        options: Options,
        pool: Option<&Arc<PoolInner>>,
    ) -> Result<Self, Error> {
        crate::sync::enter_siegel()?;
        if let Some(pool) = pool {
            if let Some(slot) = pool.alloc(size, align)? {
                return Ok(Self { entry: slot.entry(), kind: Kind::Pooled { slot, held: None } });
            }
        }
        let region = Region::new(size, align, options)?;
        let scopes = region.scopes();
        let entry = region.entry();
        Ok(Self { entry, kind: Kind::Dedicated { region: Box::new(region), scopes, held: None } })
    }

    fn held(&self) -> Option<Access> {
        match self.kind {
            Kind::Dedicated { held, .. } | Kind::Pooled { held, .. } => held,
        }
    }

    fn set_held(&mut self, to: Option<Access>) {
        match &mut self.kind {
            Kind::Dedicated { held, .. } | Kind::Pooled { held, .. } => *held = to,
        }
    }

    /// The region holding the secret (the arena, for a pooled secret).
    fn region(&self) -> &Region {
        match &self.kind {
            Kind::Dedicated { region, .. } => region,
            Kind::Pooled { slot, .. } => slot.region(),
        }
    }

    pub(crate) fn data(&self) -> NonNull<u8> {
        match &self.kind {
            Kind::Dedicated { region, .. } => region.data(),
            Kind::Pooled { slot, .. } => slot.data(),
        }
    }

    pub(crate) fn data_len(&self) -> usize {
        match &self.kind {
            Kind::Dedicated { region, .. } => region.data_len(),
            Kind::Pooled { slot, .. } => slot.size(),
        }
    }

    pub(crate) fn is_pooled(&self) -> bool {
        matches!(self.kind, Kind::Pooled { .. })
    }

    pub(crate) fn mechanism(&self) -> Mechanism {
        self.region().mechanism()
    }

    pub(crate) fn memory(&self) -> Memory {
        self.region().memory()
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.region().is_locked()
    }

    /// Whether the secret can no longer be opened: its region was wiped (a
    /// lockdown, a failed re-seal), or its pool slot was poisoned or caught
    /// overflowing.
    #[inline]
    pub(crate) fn is_poisoned(&self) -> bool {
        #[inline(never)]
        fn slot_or_region(backing: &Backing, seal: Seal) -> bool {
            seal.is_poisoned()
                || matches!(&backing.kind, Kind::Pooled { slot, .. } if slot.is_poisoned())
        }
        // From the entry kept in the handle: no heap page to reach, and for a
        // live region none of whose slots was damaged (every dedicated one)
        // one test.
        let seal = self.entry.seal();
        !seal.is_live_and_undamaged() && slot_or_region(self, seal)
    }

    /// Panics if the secret was wiped (a lockdown, a failed re-seal, a pool slot
    /// caught overflowing): an open handle or guard must not hand out its bytes
    /// after that. One relaxed load on the hot path.
    #[inline]
    pub(crate) fn assert_live(&self) {
        #[cold]
        #[inline(never)]
        fn wiped(inherited: bool) -> ! {
            assert!(
                !inherited,
                "siegel: this secret was open when the process forked; it belongs to the \
                 parent, and fork left no copy of it in this child (MADV_DONTFORK)"
            );
            panic!(
                "siegel: this secret was wiped (lockdown() ran, or its page could not be \
                 re-sealed) while it was open; no secret is handed out after that"
            )
        }
        if self.is_poisoned() {
            wiped(self.region().entry().is_inherited());
        }
    }

    /// `(mapping, data pages, secret)` address ranges.
    pub(crate) fn ranges(&self) -> [(usize, usize); 3] {
        let [mapping, pages, _] = self.region().ranges();
        [mapping, pages, (self.data().as_ptr().addr(), self.data_len())]
    }

    /// Opens `access` (see [`scope::open`]): [`open_fast`](Self::open_fast)
    /// answers in a register, and only a region that is not live and keyed
    /// (or a failed check) goes on out of line.
    ///
    /// # Errors
    ///
    /// As [`scope::open`], and [`Error::Reentrant`] from a signal handler that
    /// interrupted this thread inside siegel.
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    pub(crate) fn open(&self, access: Access) -> Result<(), Error> {
        let fast = match access {
            Access::Read => self.open_fast::<false>(),
            Access::Write => self.open_fast::<true>(),
        };
        match fast {
            Fast::Open => Ok(()),
            Fast::Declined => self.open_slow(access),
            Fast::Counted(seal) => self.open_counted(access, seal),
        }
    }

    /// The fast path of [`open`](Self::open) (see [`scope::open_fast`]), not
    /// from a signal handler that interrupted siegel (that one is
    /// [`Fast::Declined`]). One copy per access, so that the count and PKRU
    /// arithmetic is of a known access.
    ///
    /// The pool's fast path is a function of its own (a tail call here), so
    /// that its registers do not weigh on the dedicated one.
    #[inline(never)]
    fn open_fast<const WRITE: bool>(&self) -> Fast {
        #[inline(never)]
        fn pooled<const WRITE: bool>(slot: &PoolSlot) -> Fast {
            scope::open_fast(slot, Access::of::<WRITE>())
        }
        if crate::sync::holding() {
            return Fast::Declined;
        }
        match &self.kind {
            Kind::Dedicated { scopes, .. } => scope::open_fast(scopes, Access::of::<WRITE>()),
            Kind::Pooled { slot, .. } => pooled::<WRITE>(slot),
        }
    }

    /// [`open`](Self::open) when the fast path declined with nothing
    /// counted: the whole protocol, with its errors.
    #[cold]
    #[inline(never)]
    fn open_slow(&self, access: Access) -> Result<(), Error> {
        crate::sync::enter_siegel()?;
        match &self.kind {
            Kind::Dedicated { scopes, .. } => scope::open(scopes, access),
            Kind::Pooled { slot, .. } => scope::open(slot, access),
        }
    }

    /// [`open`](Self::open) when the fast path counted the scope on a region
    /// that is not a live keyed one: goes on from `seal`.
    #[cold]
    #[inline(never)]
    fn open_counted(&self, access: Access, seal: Seal) -> Result<(), Error> {
        match &self.kind {
            Kind::Dedicated { scopes, .. } => scope::open_slow(scopes, access, seal),
            Kind::Pooled { slot, .. } => scope::open_slow(slot, access, seal),
        }
    }

    /// Closes `access` (see [`scope::try_close`]).
    fn try_close(&self, access: Access) -> Result<(), Error> {
        match &self.kind {
            Kind::Dedicated { scopes, .. } => scope::try_close(scopes, access),
            Kind::Pooled { slot, .. } => scope::try_close(slot, access),
        }
    }

    /// Closes `access`, a scope this thread opened (a guard's, or one of
    /// siegel's own), where no error can be returned (see [`scope::close_own`]).
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    pub(crate) fn close(&self, access: Access) {
        match access {
            Access::Read => self.close_as::<false>(),
            Access::Write => self.close_as::<true>(),
        }
    }

    /// [`close`](Self::close), one function per access for every guard type:
    /// their drops stay a call, and the arithmetic is of a known access.
    #[inline(never)]
    fn close_as<const WRITE: bool>(&self) {
        #[inline(never)]
        fn pooled<const WRITE: bool>(slot: &PoolSlot) {
            scope::close_own(slot, Access::of::<WRITE>());
        }
        if !WRITE {
            // A keyed read scope closes from the entry, whatever the kind.
            if !scope::close_read_keyed(self.entry) {
                match &self.kind {
                    Kind::Dedicated { scopes, .. } => scope::close_read_unkeyed(scopes),
                    Kind::Pooled { slot, .. } => scope::close_read_unkeyed(slot),
                }
            }
            return;
        }
        match &self.kind {
            Kind::Dedicated { scopes, .. } => scope::close_own(scopes, Access::of::<WRITE>()),
            Kind::Pooled { slot, .. } => pooled::<WRITE>(slot),
        }
    }

    /// Changes the handle's long-lived access from `self.held` to `to`: opens the
    /// new access before closing the old, so the secret is never sealed in between.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) and [`scope::try_close`]; on error nothing changed.
    pub(crate) fn change_held(&mut self, to: Option<Access>) -> Result<(), Error> {
        if let Some(access) = to {
            self.open(access)?;
        }
        if let Some(access) = self.held() {
            if let Err(err) = self.try_close(access) {
                if let Some(opened) = to {
                    self.close(opened);
                }
                return Err(err);
            }
        }
        self.set_held(to);
        Ok(())
    }

    /// A fresh backing of the same kind and size — a new region, or a new slot of
    /// the same pool (a dedicated region if the pool is gone) — holding a copy of
    /// the secret.
    ///
    /// # Errors
    ///
    /// Making the new backing, or opening either; [`Error::Poisoned`] if a
    /// lockdown began during the copy.
    pub(crate) fn relocate(&self, align: usize) -> Result<Self, Error> {
        let pool = match &self.kind {
            Kind::Dedicated { .. } => None,
            Kind::Pooled { slot, .. } => slot.pool(),
        };
        let fresh = Self::new(self.data_len(), align, self.region().options(), pool.as_ref())?;
        let lockdowns = registry::lockdowns();
        self.copy_to(&fresh)?;
        if registry::lockdowns() != lockdowns {
            // A lockdown began while we copied: it may have walked the registry
            // before `fresh` was there. Dropping `fresh` wipes the copy.
            return Err(Error::Poisoned);
        }
        Ok(fresh)
    }

    /// Copies the secret into `dest` (same length), opening both for the copy.
    fn copy_to(&self, dest: &Self) -> Result<(), Error> {
        let len = self.data_len();
        assert_eq!(len, dest.data_len(), "siegel: copy between unequal backings");
        self.open(Access::Read)?;
        if let Err(err) = dest.open(Access::Write) {
            self.close(Access::Read);
            return Err(err);
        }
        // SAFETY:
        // - `self` is open for reading and `dest` for writing, `len` bytes each, in
        //   different regions or slots, so they cannot overlap; the borrows of
        //   `self` and `dest` keep every other writer away.
        #[allow(unsafe_code, reason = "the one copy between two open secrets")]
        unsafe {
            crate::pages::copy(self.data(), dest.data(), len);
        }
        dest.close(Access::Write);
        self.close(Access::Read);
        Ok(())
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        // A region's drop forgets held access itself; a pool slot must give its
        // page or key count back before the slot is freed.
        if let Kind::Pooled { slot, held: Some(access) } = &self.kind {
            scope::close(slot, *access);
        }
    }
}
