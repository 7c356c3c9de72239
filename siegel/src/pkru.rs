//! Per-thread protection-key state — open counts per key, the PKRU bits they
//! imply, [`seal_thread`] — and the one operation that reaches every thread:
//! [`revoke`], which closes a key in the PKRU of every thread of the process
//! before the key guards a new region.
//!
//! # Why revocation
//!
//! PKRU is per thread, and a thread's rights to a key can outlive the scope that
//! granted them: a thread spawned by `std::thread::spawn` during a scope inherits
//! its creator's PKRU; a thread that leaked a guard keeps its count; other code
//! may have called `pkey_alloc` (which opens the new key in the calling thread
//! only) and `pkey_free` (which closes it in no thread). When such a key later
//! guards a different region — a fresh key from `pkey_alloc`, or one moved by
//! virtualisation — those threads could read that region without any scope
//! (libmpk, ATC'19, calls this protection-key use-after-free).
//!
//! [`revoke`] prevents it: it bumps the key's generation (every thread's count
//! for the key is then stale and reads as zero), then sends a reserved real-time
//! signal ([`sys::revoke_signal`]) to every other thread through
//! `/proc/self/task` + `tgkill`. The handler sets the key's access-disable and
//! write-disable bits in the PKRU the kernel saved in its signal frame — the
//! register the thread resumes with — and acknowledges. The sender waits for
//! every thread to acknowledge or exit, lists the threads again (a thread created
//! meanwhile inherited a PKRU from before the signal) and repeats until no new
//! thread appears. A key whose revocation does not complete (a thread blocks the
//! signal) is never handed to a region.
//!
//! A thread interrupted between its own `RDPKRU` and `WRPKRU` would write the
//! stale value back; each PKRU write therefore checks a per-thread counter the
//! handler bumps, and on a change rebuilds every siegel key's bits from this
//! thread's (generation-checked) counts.
//!
//! # Safety
//!
//! `RDPKRU`/`WRPKRU` run only for keys in [`LIVE_KEYS`], which holds keys the kernel
//! allocated to us: the allocation proves CR4.PKE is set, so the instructions
//! cannot raise #UD.

#![allow(unsafe_code)]

use core::{
    cell::Cell,
    ffi::c_void,
    sync::atomic::{compiler_fence, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering},
};
use std::{
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use crate::{access::Counts, arch, sync::lock, sys};

/// The highest protection key number on x86-64 is 15.
const PKEYS: usize = 16;

/// Bit `k` is set while protection key `k` guards a live region of ours.
pub(crate) static LIVE_KEYS: AtomicU32 = AtomicU32::new(0);

/// Per key: bumped each time the key starts guarding a new region. A thread's
/// count for a key is valid only while its recorded generation equals this.
static KEY_GEN: [AtomicU64; PKEYS] = [const { AtomicU64::new(0) }; PKEYS];

/// What guards a key's region's scopes: told how many scopes a thread that exits
/// still held, so that a dead thread's leaked guards do not pin the key.
pub(crate) trait Release: Sync {
    /// Gives back `scopes` open scopes.
    fn release(&self, scopes: u32);
}

/// Per key: the region it guards, for releasing the scopes of a thread that
/// exits while holding them.
static KEY_OWNER: Mutex<[Option<&'static dyn Release>; PKEYS]> = Mutex::new([None; PKEYS]);

/// Whether protection key `key` guards (or guarded, until its region is gone) a
/// region of siegel's: a fault on it is siegel's to explain.
pub(crate) fn is_siegel_key(key: u32) -> bool {
    key > 0 && key < 16 && LIVE_KEYS.load(Ordering::Acquire) & (1 << key) != 0
}

/// One thread's protection-key state.
struct ThreadKeys {
    /// Open counts per key; PKRU is per thread, so two threads' scopes on one
    /// region are independent, and overlapping scopes of one thread may close in
    /// any order.
    counts: [Cell<Counts>; PKEYS],
    /// [`KEY_GEN`] of each key when its count was last written.
    gens: [Cell<u64>; PKEYS],
    /// Bumped by the revocation handler in this thread (atomic: written from a
    /// signal handler).
    interrupted: AtomicU64,
    /// The revocation round this thread acknowledged last.
    acked: AtomicU64,
    /// Whether the exit hook that releases leaked scopes is registered.
    hooked: Cell<bool>,
    /// Keys this thread holds writable for siegel's own use right now
    /// ([`with_write_access`]), whatever its counts say; bit `k` for key `k`.
    granted: Cell<u32>,
}

thread_local! {
    static THREAD: ThreadKeys = const {
        ThreadKeys {
            counts: [const { Cell::new(Counts::ZERO) }; PKEYS],
            gens: [const { Cell::new(0) }; PKEYS],
            interrupted: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            hooked: Cell::new(false),
            granted: Cell::new(0),
        }
    };
    /// Registered on a thread's first keyed scope; its drop, at thread exit,
    /// gives back the scopes the thread still counts (leaked guards): a dead
    /// thread holds no rights, so its leaks must not pin a key for good.
    static EXIT_HOOK: ExitHook = const { ExitHook };
}

fn idx(key: u32) -> usize {
    let k = usize::try_from(key).unwrap_or(PKEYS);
    assert!(k < PKEYS, "siegel: pkey {key} > 15");
    k
}

/// The two PKRU bits of `key` set to `bits`, in `pkru`.
fn with_bits(pkru: u32, key: u32, bits: u32) -> u32 {
    let shift = 2 * key;
    (pkru & !(0b11 << shift)) | (bits << shift)
}

/// Reads this thread's PKRU.
pub(crate) fn read() -> u32 {
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
fn write(current: u32, wanted: u32) {
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

impl ThreadKeys {
    /// This thread's count for `key`, zero if it is stale (the key moved on).
    fn counts(&self, key: u32) -> Counts {
        let k = idx(key);
        if self.gens[k].get() == KEY_GEN[k].load(Ordering::Acquire) {
            self.counts[k].get()
        } else {
            Counts::ZERO
        }
    }

    /// Writes PKRU as `change` computes it from the current value; if a
    /// revocation interrupted the read-modify-write, rebuilds every siegel key's
    /// bits from this thread's counts until no revocation interrupts.
    fn write_pkru(&self, change: impl Fn(u32) -> u32) {
        let seen = self.interrupted.load(Ordering::Acquire);
        let current = read();
        write(current, change(current));
        compiler_fence(Ordering::SeqCst);
        if self.interrupted.load(Ordering::Acquire) != seen {
            self.resync();
        }
    }

    /// Sets every live siegel key's bits from this thread's counts.
    #[cold]
    fn resync(&self) {
        loop {
            let seen = self.interrupted.load(Ordering::Acquire);
            let live = LIVE_KEYS.load(Ordering::Acquire);
            let current = read();
            let mut wanted = current;
            let granted = self.granted.get();
            for key in (1..16u32).filter(|k| live & (1 << k) != 0) {
                let bits = if granted & (1 << key) != 0 { 0 } else { self.counts(key).pkru_bits() };
                wanted = with_bits(wanted, key, bits);
            }
            write(current, wanted);
            compiler_fence(Ordering::SeqCst);
            if self.interrupted.load(Ordering::Acquire) == seen {
                return;
            }
        }
    }
}

/// Runs `f` on this thread's counts for `key` and applies the result to PKRU.
#[inline]
pub(crate) fn update(key: u32, f: impl FnOnce(Counts) -> Counts) {
    THREAD.with(|t| {
        let k = idx(key);
        let counts = f(t.counts(key));
        t.counts[k].set(counts);
        t.gens[k].set(KEY_GEN[k].load(Ordering::Acquire));
        if counts != Counts::ZERO && !t.hooked.get() {
            hook_exit(t);
        }
        t.write_pkru(|current| with_bits(current, key, counts.pkru_bits()));
    });
}

#[cold]
fn hook_exit(t: &ThreadKeys) {
    t.hooked.set(true);
    EXIT_HOOK.with(|_| ());
}

/// Runs `f` with write access to `key` in this thread, whatever the counts say,
/// then restores this thread's rights to `key` from its counts.
///
/// The grant is recorded, so that a revocation interrupting `f` (which makes
/// this thread rebuild its PKRU from its counts) keeps it.
pub(crate) fn with_write_access<R>(key: u32, f: impl FnOnce() -> R) -> R {
    THREAD.with(|t| {
        let bit = 1 << idx(key);
        t.granted.set(t.granted.get() | bit);
        t.write_pkru(|current| with_bits(current, key, 0));
        let result = f();
        t.granted.set(t.granted.get() & !bit);
        let bits = t.counts(key).pkru_bits();
        t.write_pkru(|current| with_bits(current, key, bits));
        result
    })
}

/// Closes, in the calling thread's PKRU, every key of a live region on which this
/// thread has no scope open; returns how many keys it closed.
///
/// A new thread inherits its creator's PKRU: spawned while a scope was open, it
/// can read that region until it calls this (or until the key moves to another
/// region, when siegel closes it in every thread). [`crate::thread::spawn`]
/// calls it first thing; call it at the start of threads made by other
/// spawners. Without protection keys it does nothing.
pub fn seal_thread() -> u32 {
    let live = LIVE_KEYS.load(Ordering::Acquire);
    if live == 0 {
        return 0;
    }
    THREAD.with(|t| {
        let before = read();
        t.resync();
        let after = read();
        (1..16u32)
            .filter(|&k| live & (1 << k) != 0)
            .filter(|&k| (before >> (2 * k)) & 0b11 != (after >> (2 * k)) & 0b11)
            .count()
            .try_into()
            .unwrap_or(u32::MAX)
    })
}

/// Grants this thread every key (PKRU = 0). For the fatal-signal path only, where
/// the process is about to die: a handler starts with the default PKRU, which
/// denies our keys.
pub(crate) fn open_all_for_crash() {
    if LIVE_KEYS.load(Ordering::Relaxed) != 0 {
        write(read(), 0);
    }
}

/// Records that `key` now guards `owner`'s region (`None`: no region).
pub(crate) fn set_owner(key: u32, owner: Option<&'static dyn Release>) {
    lock(&KEY_OWNER)[idx(key)] = owner;
}

struct ExitHook;

impl Drop for ExitHook {
    fn drop(&mut self) {
        // The thread is exiting: no reference it made can be used any more, so the
        // scopes it still counts (leaked guards) are given back to their regions.
        let _ = THREAD.try_with(|t| {
            let owners = *lock(&KEY_OWNER);
            for key in 1..16u32 {
                let k = idx(key);
                let counts = t.counts(key);
                t.counts[k].set(Counts::ZERO);
                if let Some(owner) = owners[k] {
                    owner.release(counts.total());
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------
// Revocation.

/// Serialises revocations.
static REVOKE: Mutex<()> = Mutex::new(());
/// The PKRU bits the current revocation sets.
static REVOKE_BITS: AtomicU32 = AtomicU32::new(0);
/// The current revocation round.
static ROUND: AtomicU64 = AtomicU64::new(0);
/// Thread ids that acknowledged the current round (a lock-free list).
static ACKS: [AtomicI32; 1024] = [const { AtomicI32::new(0) }; 1024];
static ACK_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Byte offset of PKRU in the signal frame's XSAVE area (0: unknown).
static PKRU_OFFSET: AtomicUsize = AtomicUsize::new(0);

/// How long a revocation waits for a thread before giving up on the key.
const PATIENCE: Duration = Duration::from_secs(2);

/// Installs the revocation handler the first time a key is used. `false` if it
/// could not be installed (then no key may be handed to a region).
pub(crate) fn install_revocation() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let Some(offset) = arch::pkru_xsave_offset() else { return false };
        PKRU_OFFSET.store(offset, Ordering::Release);
        // Not on the alternate stack: Rust's per-thread alternate stack is sized
        // for its stack-overflow report, and a signal frame with a full XSAVE
        // area plus this handler can overflow it (seen under QEMU's `-cpu max`).
        // SAFETY:
        // - `on_revoke` is async-signal-safe: atomics, a thread-local with no
        //   destructor, and a store into its own signal frame.
        unsafe { sys::sigaction_install_with(sys::revoke_signal(), on_revoke, 0) }.is_ok()
    })
}

extern "C" fn on_revoke(_sig: sys::Signal, _info: *mut sys::SigInfo, context: *mut c_void) {
    // The round is read before the bits and again after: an acknowledgement
    // counts only for a round whose bits this handler applied.
    let round = ROUND.load(Ordering::SeqCst);
    let bits = REVOKE_BITS.load(Ordering::SeqCst);
    let offset = PKRU_OFFSET.load(Ordering::SeqCst);
    // SAFETY:
    // - `context` is the `ucontext_t` the kernel passed to this SA_SIGINFO handler.
    let closed = unsafe { arch::pkru_in_frame_set(context, offset, bits) };
    let _ = THREAD.try_with(|t| {
        t.interrupted.fetch_add(1, Ordering::AcqRel);
        let settled = ROUND.load(Ordering::SeqCst) == round;
        if closed && settled && t.acked.swap(round, Ordering::AcqRel) != round {
            let at = ACK_COUNT.fetch_add(1, Ordering::AcqRel);
            if let Some(cell) = ACKS.get(at) {
                cell.store(sys::gettid(), Ordering::Release);
            }
        }
    });
}

/// Clears [`REVOKE_BITS`] when a round ends (see [`revoke`]).
struct EndOfRound;

impl Drop for EndOfRound {
    fn drop(&mut self) {
        REVOKE_BITS.store(0, Ordering::SeqCst);
    }
}

/// Closes `key` in every thread of the process (see the module docs) before it
/// guards a new region. `false` if some thread did not acknowledge in time: the
/// key must then not be handed to a region.
pub(crate) fn revoke(key: u32) -> bool {
    if !install_revocation() {
        return false;
    }
    let _serial = lock(&REVOKE);
    // A signal of this round can be delivered after the round ends (a thread that
    // acknowledged through an earlier, late signal gets ours afterwards): by then
    // the key may guard its new region, so the bits are cleared at the end of the
    // round, on every path, and a late handler closes nothing.
    let _end = EndOfRound;
    let k = idx(key);
    KEY_GEN[k].fetch_add(1, Ordering::SeqCst);
    REVOKE_BITS.store(0b11 << (2 * key), Ordering::SeqCst);
    for ack in &ACKS {
        ack.store(0, Ordering::SeqCst);
    }
    ACK_COUNT.store(0, Ordering::SeqCst);
    ROUND.fetch_add(1, Ordering::SeqCst);
    // This thread: its count for the key is stale now, so a resync closes it.
    THREAD.with(ThreadKeys::resync);
    let me = sys::gettid();
    let mut signalled: Vec<i32> = Vec::new();
    loop {
        // A transient failure (EMFILE) is retried before the key is given up.
        let Some(tids) = (0..3).find_map(|_| sys::thread_ids().ok()) else { return false };
        let fresh: Vec<i32> =
            tids.into_iter().filter(|t| *t != me && !signalled.contains(t)).collect();
        if fresh.is_empty() {
            return true;
        }
        for tid in fresh {
            if sys::tgkill(tid, sys::revoke_signal()).is_ok() {
                signalled.push(tid);
            }
        }
        if !wait_for_acks(&signalled) {
            return false;
        }
    }
}

/// Waits until every thread in `tids` acknowledged this round or exited.
fn wait_for_acks(tids: &[i32]) -> bool {
    let start = Instant::now();
    let mut pending: Vec<i32> = tids.to_vec();
    while !pending.is_empty() {
        let acked = ACK_COUNT.load(Ordering::Acquire).min(ACKS.len());
        pending.retain(|tid| !ACKS[..acked].iter().any(|a| a.load(Ordering::Acquire) == *tid));
        if pending.is_empty() {
            break;
        }
        if start.elapsed() > PATIENCE / 4 {
            pending.retain(|tid| sys::thread_alive(*tid));
        }
        if start.elapsed() > PATIENCE {
            return false;
        }
        std::thread::yield_now();
    }
    true
}
