//! Nested reads under page protection, per thread: a thread that holds a read
//! scope on a dedicated region (counted in the registry and in the region's page
//! counts, so the pages stay readable until it closes) opens another read scope
//! there by counting it here alone — no atomic operation, no system call — and
//! its next read close gives one of these back first.
//!
//! Why that is enough: a nested read needs the pages readable and the region
//! kept from a wipe, and the thread's counted read does both for as long as it
//! is counted. Read scopes of one thread on one region are interchangeable, so
//! every read close takes a nested one first: a counted read
//! of the thread is given back only when it has none nested ([`close_read`]).
//! So whenever this table says `nested > 0` for a region, the thread has a
//! counted read there.
//!
//! The table may count fewer counted reads than the thread holds (a full table
//! records nothing; a close that it cannot tell apart takes one off), never
//! more: it starts a region's count at the read that records it. A region's
//! entry is reused by later regions; its generation ([`Entry::generation`])
//! tells a slot of an earlier region (whose reads a leaked guard or a dropped
//! `ReadOnly` handle never gave back) from the new one's.
//!
//! Pool slots do not nest here: their pages open one by one, so a read of one
//! slot says nothing of another's page.
//!
//! As with `pkru`'s per-thread counts, a signal handler that interrupts this
//! thread between reading and writing a slot, opens a read on the same region
//! and keeps it past its return (a guard leaked to a static) may have that
//! read lost from the slot: the leaked guard then reads sealed pages once the
//! thread's own reads close.

use core::cell::Cell;

use crate::registry::Entry;

/// Regions a thread can nest reads on at once.
const SLOTS: usize = 4;

/// One region's reads in this thread.
#[derive(Clone, Copy)]
struct Slot {
    /// The region's entry; `None`: a free slot.
    entry: Option<&'static Entry>,
    /// [`Entry::generation`] when the slot was taken.
    generation: u64,
    /// Read scopes of this thread counted in the registry and page counts.
    counted: u32,
    /// Read scopes of this thread counted only here.
    nested: u32,
}

impl Slot {
    const FREE: Self = Self { entry: None, generation: 0, counted: 0, nested: 0 };

    /// Whether the slot is `entry`'s, of its region now.
    #[inline]
    fn is(self, entry: &Entry) -> bool {
        self.entry.is_some_and(|e| core::ptr::eq(e, entry)) && self.generation == entry.generation()
    }

    /// Whether the slot can be taken: free, or of a region gone since.
    fn is_free(self) -> bool {
        self.entry.is_none_or(|e| self.generation != e.generation())
    }
}

thread_local! {
    static TABLE: [Cell<Slot>; SLOTS] = const { [const { Cell::new(Slot::FREE) }; SLOTS] };
    /// Slots taken (a slot of a region gone since counts until it is taken
    /// again): zero is the one test a scope that cannot nest pays.
    static TAKEN: Cell<u8> = const { Cell::new(0) };
}

/// This thread's slots, reached directly: `TABLE.with` with a closure this
/// small inlines to one `%fs`-relative address, where a closure that scans
/// the slots is compiled out of line behind a call (as `pkru::this_thread`).
#[allow(clippy::inline_always, reason = "the hot path: measured with criterion")]
#[inline(always)]
fn table() -> &'static [Cell<Slot>; SLOTS] {
    let table = TABLE.with(core::ptr::from_ref);
    // SAFETY:
    // - `TABLE` is const-initialised and has no destructor [1], so it lives
    //   for as long as this thread runs; the reference is used only on this
    //   thread (`Cell` is not `Sync`, so it cannot be sent elsewhere) and
    //   never after the thread's exit (no thread-local destructor here uses
    //   it).
    //
    // [1] <https://doc.rust-lang.org/std/macro.thread_local.html>
    #[allow(unsafe_code, reason = "a thread-local's address without a closure call")]
    unsafe {
        &*table
    }
}

/// Whether this thread may hold a read to nest on (a slot is taken): `false`
/// spares a scope the table's scan.
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
pub(crate) fn any() -> bool {
    TAKEN.with(Cell::get) != 0
}

/// Counts a nested read on `entry`'s region if this thread holds a counted
/// one there. `false`: nothing changed.
#[inline]
pub(crate) fn open_nested(entry: &Entry) -> bool {
    table().iter().any(|cell| {
        let slot = cell.get();
        let nests = slot.is(entry) && slot.counted > 0 && slot.nested < u32::MAX;
        if nests {
            cell.set(Slot { nested: slot.nested + 1, ..slot });
        }
        nests
    })
}

/// A read on `entry`'s region closes in this thread: one of its nested reads
/// there is given back if it has one (`true`: nothing else to do); else the
/// read closing is a counted one, and the record loses it first (`false`; the
/// slot is freed at none, and should the close fail the record counts one
/// read fewer than the thread holds, which only keeps a read from nesting).
#[inline]
pub(crate) fn close_read(entry: &Entry) -> bool {
    let Some(cell) = table().iter().find(|cell| cell.get().is(entry)) else { return false };
    let slot = cell.get();
    if slot.nested > 0 {
        cell.set(Slot { nested: slot.nested - 1, ..slot });
        return true;
    }
    if slot.counted > 1 {
        cell.set(Slot { counted: slot.counted - 1, ..slot });
    } else {
        cell.set(Slot::FREE);
        TAKEN.with(|taken| taken.set(taken.get() - 1));
    }
    false
}

/// A counted read opened on `entry`'s region in this thread: recorded, if a
/// slot is the region's or free.
pub(crate) fn counted(entry: &'static Entry) {
    let mut free = None;
    for cell in table() {
        let slot = cell.get();
        if slot.is(entry) {
            cell.set(Slot { counted: slot.counted.saturating_add(1), ..slot });
            return;
        }
        if free.is_none() && slot.is_free() {
            free = Some(cell);
        }
    }
    if let Some(cell) = free {
        if cell.get().entry.is_none() {
            TAKEN.with(|taken| taken.set(taken.get() + 1));
        }
        cell.set(Slot {
            entry: Some(entry),
            generation: entry.generation(),
            counted: 1,
            nested: 0,
        });
    }
}
