//! What a scope holds open — [`Access`] — and [`Counts`] of open scopes, with the
//! protection they imply: page flags for page protection, two PKRU bits for a
//! protection key.

use crate::sys::ProtFlags;

/// The kind of access a scope or handle holds open.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Loads only.
    Read,
    /// Loads and stores.
    Write,
}

impl Access {
    /// `Write` if `WRITE`, else `Read`: for code compiled once per access.
    #[inline]
    pub(crate) const fn of<const WRITE: bool>() -> Self {
        if WRITE {
            Self::Write
        } else {
            Self::Read
        }
    }
}

/// How many read and write scopes hold something open (a region, a page, a key
/// in one thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) reads: u32,
    pub(crate) writes: u32,
}

impl Counts {
    pub(crate) const ZERO: Self = Self { reads: 0, writes: 0 };

    /// One more scope of `access`.
    ///
    /// # Panics
    ///
    /// Past `u32::MAX` open scopes of one kind (only leaked guards get there).
    #[inline]
    pub(crate) fn add(self, access: Access) -> Self {
        self.checked_add(access).expect("siegel: more than u32::MAX open scopes")
    }

    /// One more scope of `access`; `None` past `u32::MAX` of one kind.
    #[inline]
    pub(crate) fn checked_add(self, access: Access) -> Option<Self> {
        Some(match access {
            Access::Read => Self { reads: self.reads.checked_add(1)?, ..self },
            Access::Write => Self { writes: self.writes.checked_add(1)?, ..self },
        })
    }

    /// One scope of `access` less.
    #[inline]
    pub(crate) fn sub(self, access: Access) -> Self {
        match access {
            Access::Read => Self { reads: self.reads.saturating_sub(1), ..self },
            Access::Write => Self { writes: self.writes.saturating_sub(1), ..self },
        }
    }

    /// These counts less `other` (scopes given back at once).
    pub(crate) fn minus(self, other: Self) -> Self {
        Self {
            reads: self.reads.saturating_sub(other.reads),
            writes: self.writes.saturating_sub(other.writes),
        }
    }

    /// Whether the protection these counts imply lets a scope of `access` in
    /// as it is (no protection change).
    #[inline]
    pub(crate) fn allows(self, access: Access) -> bool {
        match access {
            Access::Read => self.reads > 0 || self.writes > 0,
            Access::Write => self.writes > 0,
        }
    }

    /// The counts as one word: reads in the low half, writes in the high half.
    #[inline]
    pub(crate) fn to_bits(self) -> u64 {
        u64::from(self.writes) << 32 | u64::from(self.reads)
    }

    /// The counts [`to_bits`](Self::to_bits) made `bits` of.
    #[inline]
    pub(crate) fn from_bits(bits: u64) -> Self {
        #[allow(clippy::cast_possible_truncation, reason = "the two halves, on purpose")]
        #[allow(clippy::as_conversions, reason = "the two halves, on purpose")]
        Self { reads: bits as u32, writes: (bits >> 32) as u32 }
    }

    /// All scopes counted.
    pub(crate) fn total(self) -> u32 {
        self.reads.saturating_add(self.writes)
    }

    /// The page protection these counts need.
    pub(crate) fn prot(self) -> ProtFlags {
        if self.writes > 0 {
            ProtFlags::READ_WRITE
        } else if self.reads > 0 {
            ProtFlags::READ
        } else {
            ProtFlags::NONE
        }
    }

    /// The two PKRU bits (WD, AD) these counts need for their key.
    #[inline]
    pub(crate) fn pkru_bits(self) -> u32 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let two = c.add(Access::Read).add(Access::Write);
        assert_eq!(two.minus(c.add(Access::Write)), c.add(Access::Read));
        assert_eq!(two.total(), 2);
    }
}
