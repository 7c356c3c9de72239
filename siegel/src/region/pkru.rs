//! Per-thread protection-key state: open counts per key, the PKRU bits they imply,
//! and [`seal_thread`].
//!
//! # Safety
//!
//! `RDPKRU`/`WRPKRU` run only for keys in [`LIVE_KEYS`], which holds keys the kernel
//! allocated to us: the allocation proves CR4.PKE is set, so the instructions
//! cannot raise #UD.

use core::{
    cell::Cell,
    sync::atomic::{AtomicU32, Ordering},
};

use super::Counts;
use crate::arch;

/// The highest protection key number on x86-64 is 15.
const PKEYS: usize = 16;

/// Bit `k` is set while protection key `k` guards a live region of ours.
pub(super) static LIVE_KEYS: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// Per-thread open counts of every protection key: PKRU is per thread, so two
    /// threads' scopes on one region are independent, and overlapping scopes of
    /// one thread may close in any order.
    static PKEY_COUNTS: [Cell<Counts>; PKEYS] =
        const { [const { Cell::new(Counts::ZERO) }; PKEYS] };
}

/// The two PKRU bits of `key` set to `bits`, in `pkru`.
fn with_bits(pkru: u32, key: u32, bits: u32) -> u32 {
    let shift = 2 * key;
    (pkru & !(0b11 << shift)) | (bits << shift)
}

/// Reads this thread's PKRU.
pub(super) fn read() -> u32 {
    // SAFETY:
    // - only reached for live keys or after a successful `pkey_alloc`, which proves
    //   CR4.PKE is set (module docs) [1].
    //
    // [1] Intel SDM vol. 2B, RDPKRU
    unsafe { arch::rdpkru() }
}

/// Writes this thread's PKRU if `wanted` differs from `current`.
///
/// Callers only take rights away from keys no live reference of this thread uses.
pub(super) fn write(current: u32, wanted: u32) {
    if wanted != current {
        // SAFETY:
        // - CR4.PKE is set (module docs) [1];
        // - the caller only narrows rights of keys with no scope open in this thread,
        //   so no live reference loses its access.
        //
        // [1] Intel SDM vol. 2D, WRPKRU
        unsafe { arch::wrpkru(wanted) };
    }
}

/// Runs `f` on this thread's counts for `key` and applies the result to PKRU.
pub(super) fn update(key: u32, f: impl FnOnce(Counts) -> Counts) {
    PKEY_COUNTS.with(|all| {
        let cell = usize::try_from(key).ok().and_then(|k| all.get(k)).expect("siegel: pkey > 15");
        let counts = f(cell.get());
        cell.set(counts);
        let current = read();
        write(current, with_bits(current, key, counts.pkru_bits()));
    });
}

/// Runs `f` with write access to `key` in this thread, whatever the counts say,
/// then restores this thread's PKRU.
pub(super) fn with_write_access<R>(key: u32, f: impl FnOnce() -> R) -> R {
    let saved = read();
    write(saved, with_bits(saved, key, 0));
    let result = f();
    write(with_bits(saved, key, 0), saved);
    result
}

/// Closes, in the calling thread's PKRU, every key of a live region on which this
/// thread has no scope open; returns how many keys it closed.
///
/// A new thread inherits its creator's PKRU: spawned while a scope was open, it
/// can read that region until it calls this. [`crate::thread::spawn`] calls it
/// first thing; call it at the start of threads made by other spawners. Without
/// protection keys it does nothing.
pub fn seal_thread() -> u32 {
    let live = LIVE_KEYS.load(Ordering::Acquire);
    if live == 0 {
        return 0;
    }
    PKEY_COUNTS.with(|all| {
        let current = read();
        let mut wanted = current;
        let mut closed = 0;
        for (key, counts) in (0u32..).zip(all) {
            let sealed = with_bits(wanted, key, Counts::ZERO.pkru_bits());
            if live & (1 << key) != 0 && counts.get() == Counts::ZERO && sealed != wanted {
                wanted = sealed;
                closed += 1;
            }
        }
        write(current, wanted);
        closed
    })
}

/// Grants this thread every key (PKRU = 0). For the fatal-signal path only, where
/// the process is about to die: a handler starts with the default PKRU, which
/// denies our keys.
pub(super) fn open_all_for_crash() {
    if LIVE_KEYS.load(Ordering::Relaxed) != 0 {
        write(read(), 0);
    }
}
