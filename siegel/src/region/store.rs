//! What a handle owns: a dedicated region or a pool slot, plus the access the
//! handle itself holds open (its typestate).

use core::ptr::NonNull;

use super::{pool::PoolSlot, slot::Slot, Access, Region};
use crate::{
    backend::{Mechanism, Memory},
    Error,
};

/// The storage behind one `Protected` handle. `held` is the access the owning
/// handle keeps open (its typestate), if any; it sits inside each variant so the
/// handle stays small (pooled secrets are many: 32 bytes a handle).
#[derive(Debug)]
pub(crate) struct Store {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// `slot` is the region's registry slot, kept here so that scopes reach it
    /// without touching the boxed `Region` (a heap page fewer per scope).
    Region {
        region: Box<Region>,
        slot: &'static Slot,
        held: Option<Access>,
    },
    Pooled {
        slot: PoolSlot,
        held: Option<Access>,
    },
}

impl Store {
    pub(crate) fn region(region: Region) -> Self {
        Self { kind: Kind::Region { slot: region.slot(), region: Box::new(region), held: None } }
    }

    pub(crate) fn pooled(slot: PoolSlot) -> Self {
        Self { kind: Kind::Pooled { slot, held: None } }
    }

    fn held(&self) -> Option<Access> {
        match self.kind {
            Kind::Region { held, .. } | Kind::Pooled { held, .. } => held,
        }
    }

    fn set_held(&mut self, to: Option<Access>) {
        match &mut self.kind {
            Kind::Region { held, .. } | Kind::Pooled { held, .. } => *held = to,
        }
    }

    /// The region holding the secret (the arena, for a pooled secret).
    fn backing(&self) -> &Region {
        match &self.kind {
            Kind::Region { region, .. } => region,
            Kind::Pooled { slot, .. } => slot.region(),
        }
    }

    pub(crate) fn data(&self) -> NonNull<u8> {
        match &self.kind {
            Kind::Region { region, .. } => region.data(),
            Kind::Pooled { slot, .. } => slot.data(),
        }
    }

    pub(crate) fn data_len(&self) -> usize {
        match &self.kind {
            Kind::Region { region, .. } => region.data_len(),
            Kind::Pooled { slot, .. } => slot.size(),
        }
    }

    pub(crate) fn is_pooled(&self) -> bool {
        matches!(self.kind, Kind::Pooled { .. })
    }

    pub(crate) fn mechanism(&self) -> Mechanism {
        self.backing().mechanism()
    }

    pub(crate) fn memory(&self) -> Memory {
        self.backing().memory()
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.backing().is_locked()
    }

    /// Whether the secret can no longer be opened: its region was wiped (a
    /// lockdown, a failed re-seal), or its pool slot was poisoned or caught
    /// overflowing.
    pub(crate) fn is_poisoned(&self) -> bool {
        match &self.kind {
            Kind::Region { slot, .. } => slot.is_poisoned(),
            Kind::Pooled { slot, .. } => slot.region().is_poisoned() || slot.is_poisoned(),
        }
    }

    /// Panics if the secret was wiped (a lockdown, a failed re-seal, a pool slot
    /// caught overflowing): an open handle or guard must not hand out its bytes
    /// after that. One relaxed load on the hot path.
    #[inline]
    pub(crate) fn assert_live(&self) {
        #[cold]
        #[inline(never)]
        fn wiped() -> ! {
            panic!(
                "siegel: this secret was wiped (lockdown() ran, or its page could not be \
                 re-sealed) while it was open; no secret is handed out after that"
            )
        }
        if self.is_poisoned() {
            wiped();
        }
    }

    /// `(mapping, data pages, secret)` address ranges.
    pub(crate) fn ranges(&self) -> [(usize, usize); 3] {
        let [mapping, pages, _] = self.backing().ranges();
        [mapping, pages, (self.data().as_ptr().addr(), self.data_len())]
    }

    #[inline]
    pub(crate) fn open(&self, access: Access) -> Result<(), Error> {
        match &self.kind {
            Kind::Region { slot, .. } => slot.open(access),
            Kind::Pooled { slot, .. } => slot.open(access),
        }
    }

    pub(crate) fn close(&self, access: Access) -> Result<(), Error> {
        match &self.kind {
            Kind::Region { slot, .. } => slot.close(access),
            Kind::Pooled { slot, .. } => slot.close(access),
        }
    }

    #[inline]
    pub(crate) fn close_or_poison(&self, access: Access) {
        match &self.kind {
            Kind::Region { slot, .. } => slot.close_or_poison(access),
            Kind::Pooled { slot, .. } => slot.close_or_poison(access),
        }
    }

    /// Changes the handle's long-lived access from `self.held` to `to`: opens the
    /// new access before closing the old, so the secret is never sealed in between.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) and [`close`](Self::close); on error nothing changed.
    pub(crate) fn change_held(&mut self, to: Option<Access>) -> Result<(), Error> {
        if let Some(access) = to {
            self.open(access)?;
        }
        if let Some(access) = self.held() {
            if let Err(err) = self.close(access) {
                if let Some(opened) = to {
                    self.close_or_poison(opened);
                }
                return Err(err);
            }
        }
        self.set_held(to);
        Ok(())
    }

    /// A fresh store of the same kind and size — a new region, or a new slot of
    /// the same pool — holding a copy of the secret.
    ///
    /// # Errors
    ///
    /// Making the new store, or opening either.
    pub(crate) fn relocate(&self, align: usize) -> Result<Self, Error> {
        let fresh = match &self.kind {
            Kind::Region { region, .. } => {
                Self::region(Region::new(region.data_len(), align, region.options())?)
            }
            Kind::Pooled { slot, .. } => match slot.pool() {
                // A pooled secret fits its pool, so `alloc` never answers `None`.
                Some(pool) => match pool.alloc(slot.size(), align)? {
                    Some(new) => Self::pooled(new),
                    None => Self::region(Region::new(slot.size(), align, slot.options())?),
                },
                // The pool is gone (its arenas live on for their slots).
                None => Self::region(Region::new(slot.size(), align, slot.options())?),
            },
        };
        let lockdowns = super::slot::lockdowns();
        self.copy_to(&fresh)?;
        if super::slot::lockdowns() != lockdowns {
            // A lockdown began while we copied: it may have walked the registry
            // before `fresh` was there. Dropping `fresh` wipes the copy.
            return Err(Error::Poisoned);
        }
        Ok(fresh)
    }

    /// Copies the secret into `dest` (same length), opening both for the copy.
    fn copy_to(&self, dest: &Self) -> Result<(), Error> {
        let len = self.data_len();
        assert_eq!(len, dest.data_len(), "siegel: copy between unequal stores");
        self.open(Access::Read)?;
        if let Err(err) = dest.open(Access::Write) {
            self.close_or_poison(Access::Read);
            return Err(err);
        }
        super::copy_open(self.data(), dest.data(), len);
        dest.close_or_poison(Access::Write);
        self.close_or_poison(Access::Read);
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // A region's drop forgets held access itself; a pool slot must give its
        // page or key count back before the slot is freed.
        if let Kind::Pooled { slot, held: Some(access) } = &self.kind {
            slot.close_or_poison(*access);
        }
    }
}
