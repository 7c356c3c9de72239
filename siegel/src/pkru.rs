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
//! [`revoke`] prevents it. It runs only where a key changes hands (see
//! `keys.rs`: keys are taken once and kept, a region takes a clean key
//! without a round, and one round closes every dirty key at once), and reaches
//! only the threads that can hold the keys ([`Reach`]): every thread for fresh
//! keys, else the threads that ever held a keyed scope and those created since
//! the keys were given (from `/proc/self/task/TID/stat`). A round bumps each
//! key's generation (every thread's count for it is then stale and reads as
//! zero), then sends a real-time signal ([`revocation_signal`]) to each of
//! those threads with `tgkill`. The handler sets the keys' access-disable and
//! write-disable bits in the PKRU the kernel saved in its signal frame — the
//! register the thread resumes with — and acknowledges on a lock-free board.
//! The sender waits for every thread to acknowledge or exit, lists the threads
//! again (a thread created meanwhile inherited a PKRU from before the signal)
//! and repeats until no new thread appears.
//!
//! Everything that can stop a round ends it at once, or within a bounded wait,
//! with a [`Revocation`] error that names the cause: a thread that blocks the
//! signal (read from its `SigBlk` before anything is sent to it), a full signal
//! queue (`EAGAIN`), a thread that does not answer, a handler of the program's
//! own on the signal (checked at every round), threads appearing faster than
//! the round reaches them. Only the region being created sees the error; the
//! keys are tried again next time. The signal is chosen, never taken: one with
//! no handler, or the one `SIEGEL_SIGNAL` names. The round lock is a pid-stamped
//! word, so a `fork` child never waits for a round its parent was running.
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
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{
    access::{Access, Counts},
    arch,
    error::Revocation,
    sync::lock,
    sys,
};

/// Protection keys on x86-64: 0 (the default key, never siegel's) to 15.
pub(crate) const PKEYS: usize = 16;

/// [`PKEYS`] as a key number.
#[allow(clippy::as_conversions, clippy::cast_possible_truncation, reason = "16 fits")]
pub(crate) const KEY_COUNT: u32 = PKEYS as u32;
const _: () = assert!(KEY_COUNT.is_power_of_two(), "`idx` masks with PKEYS - 1");

/// The keys siegel may use: every key but the default one.
fn usable_keys() -> core::ops::Range<u32> {
    1..KEY_COUNT
}

/// Whether `key` is a protection key number (below [`KEY_COUNT`]).
#[inline]
const fn idx_in_range(key: u32) -> bool {
    key < KEY_COUNT
}

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
    key > 0 && idx_in_range(key) && LIVE_KEYS.load(Ordering::Acquire) & (1 << key) != 0
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
            hooked: Cell::new(false),
            granted: Cell::new(0),
        }
    };
    /// Registered on a thread's first keyed scope where the exit hook cannot
    /// be (see [`hook_exit`]); its drop, at thread exit, gives back the scopes
    /// the thread still counts (leaked guards): a dead thread holds no rights,
    /// so its leaks must not pin a key for good.
    static EXIT_HOOK: ExitHook = const { ExitHook };
}

/// The index of `key` in per-key tables. Keys reach here from registry
/// entries, which hold only keys below [`KEY_COUNT`] (checked when published), so the mask
/// changes nothing and lets the compiler drop the bounds checks.
#[inline]
fn idx(key: u32) -> usize {
    debug_assert!(idx_in_range(key), "siegel: pkey {key} out of range");
    // `key & (PKEYS - 1) < PKEYS`: the conversion cannot fail, and the compiler
    // knows it.
    usize::try_from(key).map_or(0, |k| k & (PKEYS - 1))
}

/// The two PKRU bits of `key` set to `bits`, in `pkru`.
#[inline]
fn with_bits(pkru: u32, key: u32, bits: u32) -> u32 {
    let shift = 2 * key;
    (pkru & !(0b11 << shift)) | (bits << shift)
}

/// [`with_bits`] for bits not known in advance (an open's): the two bits
/// that differ flipped, so that the caller's "no change" test compares the
/// two bits alone, before anything is shifted back (a nested scope's open
/// stops there). `bits` is below 4.
#[inline]
fn with_changed_bits(pkru: u32, key: u32, bits: u32) -> u32 {
    let shift = 2 * key;
    pkru ^ ((((pkru >> shift) & 0b11) ^ bits) << shift)
}

/// Reads this thread's PKRU.
#[inline]
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
#[inline]
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
    #[inline]
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
    #[inline]
    fn write_pkru(&self, change: impl FnOnce(u32) -> u32) {
        if !self.try_write_pkru(change) {
            self.resync();
        }
    }

    /// The read-modify-write of [`write_pkru`](Self::write_pkru) without the
    /// repair: returns `false` if a revocation interrupted it (the value written
    /// back may reopen keys the round closed; the caller must
    /// [`resync`](Self::resync)). Writes nothing if the value stays the same.
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    fn try_write_pkru(&self, change: impl FnOnce(u32) -> u32) -> bool {
        let seen = self.interrupted.load(Ordering::Acquire);
        let current = read();
        let wanted = change(current);
        if wanted == current {
            return true;
        }
        write(current, wanted);
        compiler_fence(Ordering::SeqCst);
        self.interrupted.load(Ordering::Acquire) == seen
    }

    /// [`update`]'s step once the counts are known fresh: `f` applied to the
    /// counts for `key`, and PKRU written as they need (`false`: `f` gave
    /// `None`, nothing changed; or see [`try_write_pkru`](Self::try_write_pkru)).
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    fn apply(&self, key: u32, f: impl FnOnce(Counts) -> Option<Counts>) -> bool {
        let k = idx(key);
        let Some(counts) = f(self.counts[k].get()) else { return false };
        self.counts[k].set(counts);
        self.try_write_pkru(|current| with_changed_bits(current, key, counts.pkru_bits()))
    }

    /// [`apply`](Self::apply) for the close of a scope of `access`: one
    /// scope less in the counts for `key`, and PKRU read and written only if
    /// what stays open needs less than `access` did. Otherwise the key's bits
    /// stay: the open of each scope still counted set them to what the counts
    /// then needed, which is what they need now (no bit of the closed scope's
    /// is left that the others do not need too), and a close only ever takes
    /// rights away, so nothing is left more open than the counts need (in a
    /// signal handler, whose PKRU starts as the kernel's initial value, a
    /// close that skips leaves the key as closed as the handler had it).
    /// `false`: see [`try_write_pkru`](Self::try_write_pkru).
    #[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
    #[inline(always)]
    fn apply_close(&self, key: u32, access: Access) -> bool {
        let k = idx(key);
        let counts = self.counts[k].get().sub(access);
        self.counts[k].set(counts);
        if counts.allows(access) {
            return true;
        }
        self.try_write_pkru(|current| with_bits(current, key, counts.pkru_bits()))
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
            for key in usable_keys().filter(|k| live & (1 << k) != 0) {
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

/// Runs `f` with this thread's [`ThreadKeys`], reached directly (see
/// [`this_thread`]).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn with_thread<R>(f: impl FnOnce(&ThreadKeys) -> R) -> R {
    // SAFETY:
    // - see `this_thread`: the reference does not outlive `f`, which runs on
    //   this thread.
    f(unsafe { &*this_thread() })
}

/// This thread's [`ThreadKeys`]: `THREAD.with` with a closure this small
/// inlines to one `%fs`-relative address, where a larger one is compiled out
/// of line behind an indirect call. Valid for as long as this thread runs:
/// `THREAD` is const-initialised and has no destructor [1].
///
/// [1] <https://doc.rust-lang.org/std/macro.thread_local.html>
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn this_thread() -> *const ThreadKeys {
    THREAD.with(core::ptr::from_ref)
}

/// Counts one more scope of `access` on `key` in this thread and opens the key
/// as far as its counts need. Returns `false` when the caller must call
/// [`finish_open`] before it hands out access: kept out of this function so
/// that its common path makes no call (not even the panic of a count at
/// `u32::MAX`, which leaves the counts as they are for `finish_open`).
#[inline]
#[must_use]
pub(crate) fn open(key: u32, access: Access) -> bool {
    update(key, move |c| c.checked_add(access))
}

/// Counts one scope of `access` on `key` less in this thread and closes the key
/// as far as its counts allow. Returns `false` when the caller must call
/// [`finish_close`].
#[inline]
#[must_use]
pub(crate) fn close(key: u32, access: Access) -> bool {
    if_fresh(key, |t| t.apply_close(key, access))
}

/// [`close`] of a scope this thread opened and has counted in the registry
/// since (a guard's): the key's generation cannot have moved meanwhile (a
/// round bumps only keys that guard no region with a counted scope, see
/// [`finish`]), and the open left this thread's counts of this generation,
/// so the generation check is left out (checked in debug builds). Returns
/// `false` when the caller must call [`finish_close`] (a revocation
/// interrupted the PKRU write).
#[inline]
#[must_use]
pub(crate) fn close_own(key: u32, access: Access) -> bool {
    with_thread(|t| {
        debug_assert_eq!(
            t.gens[idx(key)].get(),
            KEY_GEN[idx(key)].load(Ordering::Acquire),
            "siegel: a scope this thread counts lost its key's generation"
        );
        t.apply_close(key, access)
    })
}

/// What [`open`] left to do when it returned `false`.
///
/// # Panics
///
/// At `u32::MAX` open scopes of one kind on `key` in this thread (only
/// leaked guards get there; [`open`] left the counts as they were, or, if a
/// revocation interrupted it, reached exactly that many).
#[cold]
#[inline(never)]
pub(crate) fn finish_open(key: u32, access: Access) {
    let full = with_thread(|t| t.counts(key).checked_add(access).is_none());
    assert!(!full, "siegel: u32::MAX open scopes of one kind on one key in this thread");
    finish(key, move |c| c.add(access));
}

/// What [`close`] left to do when it returned `false`.
#[cold]
#[inline(never)]
pub(crate) fn finish_close(key: u32, access: Access) {
    finish(key, move |c| c.sub(access));
}

/// Sets this thread's counts for `key` to zero and closes the key.
pub(crate) fn forget(key: u32) {
    if !update(key, |_| Some(Counts::ZERO)) {
        finish(key, |_| Counts::ZERO);
    }
}

/// Runs `f` on this thread's counts for `key` and applies the result to PKRU.
/// PKRU is read every time, never assumed from the counts: a signal handler
/// runs with the kernel's initial PKRU whatever the counts of the code it
/// interrupted say, so a nested scope there must still open the key. It is
/// written only if the key's two bits change (not for a nested scope). A
/// close ([`close`], [`close_own`]) reads it only when the scopes left open
/// need less than the closed one (`ThreadKeys::apply_close`).
///
/// Returns `false`, for the caller to [`finish`] with the same `f`, in three
/// cases that call nothing here (the fast path stays free of calls):
/// - this thread's counts for `key` are stale (of an earlier generation, or
///   never written): nothing was changed;
/// - `f` gave `None` (a count at `u32::MAX`): nothing was changed;
/// - a revocation interrupted the PKRU write: the counts were updated, and
///   the value written back may reopen keys the round closed.
///
/// Fresh counts mean this thread counted a scope on the key before, and so
/// has its exit hook ([`finish`] is the only place a generation is recorded,
/// with counts that are not zero, after hooking).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn update(key: u32, f: impl FnOnce(Counts) -> Option<Counts>) -> bool {
    if_fresh(key, |t| t.apply(key, f))
}

/// `step` on this thread's [`ThreadKeys`] if its counts for `key` are of the
/// key's generation; `false` (nothing done) if they are stale.
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn if_fresh(key: u32, step: impl FnOnce(&ThreadKeys) -> bool) -> bool {
    // SAFETY:
    // - see `this_thread`: the reference does not outlive this call, which runs
    //   on this thread.
    let t = unsafe { &*this_thread() };
    let k = idx(key);
    if t.gens[k].get() != KEY_GEN[k].load(Ordering::Acquire) {
        return false;
    }
    step(t)
}

/// Completes an [`update`] that returned `false` (see there): stale counts
/// start from zero and record the generation only if they are not zero —
/// after registering the exit hook on the thread's first keyed scope; then
/// every siegel key's bits are rebuilt from the counts.
///
/// The generation cannot move between the two: a round bumps only keys that
/// guard no region, and `key` guards the region whose scope is counted.
fn finish(key: u32, f: impl FnOnce(Counts) -> Counts) {
    with_thread(|t| {
        let k = idx(key);
        let generation = KEY_GEN[k].load(Ordering::Acquire);
        if t.gens[k].get() != generation {
            let counts = f(Counts::ZERO);
            // Zero counts need no generation: stale ones read as zero.
            if counts != Counts::ZERO {
                if !t.hooked.get() {
                    hook_exit(t);
                }
                t.gens[k].set(generation);
            }
            t.counts[k].set(counts);
        }
        t.resync();
    });
}

/// Whether this thread holds a scope on any keyed region (its counts, valid
/// for the key's current generation).
pub(crate) fn holds_keyed_scope() -> bool {
    THREAD.with(|t| usable_keys().any(|key| t.counts(key) != Counts::ZERO))
}

/// A thread's first keyed scope: registers the exit hook, and the thread as
/// one that every later round reaches ([`OPENERS`]). The hook runs after the
/// thread's thread-local destructors ([`sys::call_at_thread_exit`]): a guard a
/// thread-local keeps closes first, and only what is left is given back
/// (given back twice, it would pin the key and defer a lockdown's wipe for
/// good). Where that cannot be arranged, a thread-local's destructor runs it
/// ([`EXIT_HOOK`]: in whatever order the thread-locals die).
#[cold]
fn hook_exit(t: &ThreadKeys) {
    t.hooked.set(true);
    lock(&OPENERS).push(sys::gettid());
    if sys::call_at_thread_exit(release_at_exit).is_err() {
        EXIT_HOOK.with(|_| ());
    }
}

/// At a thread's exit: the scopes it still counts (leaked guards) are given
/// back to their regions; no reference it made can be used any more.
fn release_at_exit() {
    let me = sys::gettid();
    lock(&OPENERS).retain(|&tid| tid != me);
    let _ = THREAD.try_with(|t| {
        let owners = *lock(&KEY_OWNER);
        for key in usable_keys() {
            let k = idx(key);
            let counts = t.counts(key);
            t.counts[k].set(Counts::ZERO);
            if let Some(owner) = owners[k] {
                owner.release(counts.total());
            }
        }
    });
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
/// region, when siegel closes it in every thread). `siegel::thread::spawn`
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
        usable_keys()
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
        release_at_exit();
    }
}

// ---------------------------------------------------------------------------
// Revocation.

/// The process whose thread runs a round right now (0: none). A word rather than
/// a mutex: a `fork` child inherits it but not the thread that held it, and a
/// pid other than its own tells the child that nobody holds it there.
static ROUND_OWNER: AtomicU32 = AtomicU32::new(0);
/// The PKRU bits the current round sets.
static REVOKE_BITS: AtomicU32 = AtomicU32::new(0);
/// The current round (never 0 while one runs: 0 marks a free slot of [`BOARD`]).
static ROUND: AtomicU32 = AtomicU32::new(0);
/// The signal rounds use, once chosen and installed (0: not yet).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Byte offset of PKRU in the signal frame's XSAVE area (0: unknown).
static PKRU_OFFSET: AtomicUsize = AtomicUsize::new(0);

/// Acknowledgements: an open-addressing table of `round << 32 | tid` words,
/// written by the handler (lock-free, allocation-free), read by the sender. A
/// word of another round counts as free, so the table is never cleared.
const BOARD_LEN: usize = 4096;
static BOARD: [AtomicU64; BOARD_LEN] = [const { AtomicU64::new(0) }; BOARD_LEN];
/// Threads signalled at once: at most half the board, so probing stays short
/// whatever the number of threads (larger rounds go in batches).
const BATCH: usize = BOARD_LEN / 2;

/// How long a round waits for the threads it must reach while none of them
/// answers: every answer (or exit) gives the rest this long again, so a round
/// over a thousand threads on a loaded machine finishes, and one thread that
/// never answers fails it this long after the last that did.
const PATIENCE: Duration = Duration::from_secs(4);
/// Bumped by a round each time a thread answers: a thread waiting for the
/// round lock waits as long as the round it waits for makes progress.
static PROGRESS: AtomicU64 = AtomicU64::new(0);
/// How long a thread that sleeps with the signal blocked may keep it blocked
/// before the round gives up on it: threads block every signal for a moment
/// (while they start, while they create a thread or a process, while they run
/// a handler), and on a loaded machine that moment can be long. A thread that
/// blocks it while runnable (running, or waiting for a CPU) is in such a
/// moment and gets until the round's deadline ([`PATIENCE`] after the last
/// answer); one that sleeps with it blocked (`sigwait`, a blocking call with
/// the signal masked) would never take it.
const BLOCKED_GRACE: Duration = Duration::from_secs(1);

/// Threads that ever held a keyed scope: they are reached by every round (a
/// leaked guard keeps a key open in its thread after its region is gone).
static OPENERS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Serialises the choice of the revocation signal ([`install_revocation`]);
/// the choice itself is [`SIGNAL`].
static INSTALLING: Mutex<()> = Mutex::new(());

/// For `fork` (see `keys::fork_safe`): holds this module's locks.
pub(crate) fn hold_for_fork() {
    crate::sync::hold_for_fork(&INSTALLING);
    crate::sync::hold_for_fork(&OPENERS);
    crate::sync::hold_for_fork(&KEY_OWNER);
}

/// Which threads a round must reach.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reach {
    /// Every thread: the keys are fresh from `pkey_alloc`, and any thread may
    /// have been given them by other code.
    Every,
    /// The threads that ever held a keyed scope, and those created at or after
    /// this time ([`sys::boottime_ticks`]): the keys were closed everywhere
    /// before, and only those threads can have opened or inherited them since.
    Since(u64),
}

/// Chooses the revocation signal and installs its handler, once: `SIEGEL_SIGNAL`
/// if set, else the highest real-time signal from `SIGRTMAX - 6` down that has
/// no handler (a program's own handler is never replaced).
fn install_revocation() -> Result<sys::Signal, Revocation> {
    if let Some(signal) = revocation_signal() {
        return Ok(signal);
    }
    let _installing = lock(&INSTALLING);
    if let Some(signal) = revocation_signal() {
        return Ok(signal);
    }
    let Some(offset) = arch::pkru_xsave_offset() else {
        // No PKRU in the signal frame's XSAVE area: the handler could not
        // close a key in the register its thread resumes with.
        let source = std::io::Error::from(std::io::ErrorKind::Unsupported);
        return Err(Revocation::Handler { source });
    };
    PKRU_OFFSET.store(offset, Ordering::Release);
    let range = sys::realtime_signals();
    let (candidates, configured): (Vec<sys::Signal>, bool) = match std::env::var("SIEGEL_SIGNAL") {
        Ok(value) => match value.trim().parse() {
            Ok(signal) if range.contains(&signal) => (vec![signal], true),
            _ => return Err(Revocation::InvalidSignal { value }),
        },
        // glibc and programs counting up from SIGRTMIN take the low ones.
        Err(_) => ((range.start() + 2..=range.end() - 6).rev().collect(), false),
    };
    for signal in candidates {
        // Not on the alternate stack: Rust's per-thread alternate stack is sized
        // for its stack-overflow report, and a signal frame with a full XSAVE
        // area plus this handler can overflow it (seen under QEMU's `-cpu max`).
        // SAFETY:
        // - `on_revoke` is async-signal-safe: atomics, a thread-local with no
        //   destructor, and a store into its own signal frame.
        let previous = unsafe { sys::sigaction_install_with(signal, on_revoke, 0) }
            .map_err(|source| Revocation::Handler { source })?;
        if sys::is_default(&previous) {
            SIGNAL.store(signal, Ordering::Release);
            return Ok(signal);
        }
        // Someone else's: give it back untouched.
        // SAFETY:
        // - `previous` is the disposition sigaction returned just now.
        let _ = unsafe { sys::sigaction_restore(signal, &previous) };
        if configured {
            return Err(Revocation::SignalTaken { signal });
        }
    }
    Err(Revocation::NoFreeSignal)
}

/// The signal siegel sends to close a protection key in other threads, once it
/// has chosen one (at the first keyed secret): `SIEGEL_SIGNAL` if set, else the
/// highest real-time signal from `SIGRTMAX - 6` down that had no handler.
/// `None` before, and without protection keys. See the crate docs, "Signals".
#[must_use]
pub fn revocation_signal() -> Option<i32> {
    match SIGNAL.load(Ordering::Acquire) {
        0 => None,
        signal => Some(signal),
    }
}

/// Revocation rounds run so far in this process.
static ROUNDS: AtomicU64 = AtomicU64::new(0);

/// How many revocation rounds this process has run (each one signals some
/// threads; see the crate docs, "Signals"). For monitoring: a program that
/// makes its secrets at start-up sees 1.
#[must_use]
pub fn revocation_rounds() -> u64 {
    ROUNDS.load(Ordering::Relaxed)
}

/// The board word for `tid`'s acknowledgement of `round`.
fn ack_word(round: u32, tid: i32) -> u64 {
    (u64::from(round) << 32) | u64::from(u32::from_ne_bytes(tid.to_ne_bytes()))
}

/// The round a board word belongs to.
fn round_of(word: u64) -> u32 {
    u32::try_from(word >> 32).unwrap_or(0)
}

/// Where `tid`'s probe starts on the board.
fn board_start(tid: i32) -> usize {
    usize::try_from(u32::from_ne_bytes(tid.to_ne_bytes())).unwrap_or(0) % BOARD_LEN
}

/// Records that `tid` applied `round`'s bits. Async-signal-safe.
fn acknowledge(round: u32, tid: i32) {
    let mine = ack_word(round, tid);
    let start = board_start(tid);
    for i in 0..BOARD_LEN {
        let slot = &BOARD[(start + i) % BOARD_LEN];
        let mut seen = slot.load(Ordering::Acquire);
        loop {
            if seen == mine {
                return;
            }
            if round_of(seen) == round {
                break; // another thread's, this round: probe on
            }
            // A late handler of an ended round must not take a slot of the
            // current one: it observed `seen` before checking that its round
            // still runs, so a word written by a newer round cannot be replaced.
            if ROUND.load(Ordering::SeqCst) != round {
                return;
            }
            match slot.compare_exchange(seen, mine, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => seen = now,
            }
        }
    }
}

/// Whether `tid` acknowledged `round`. Slots of this round are never freed
/// during it, so a probe may stop at the first slot of another round.
fn acknowledged(round: u32, tid: i32) -> bool {
    let mine = ack_word(round, tid);
    let start = board_start(tid);
    for i in 0..BOARD_LEN {
        let seen = BOARD[(start + i) % BOARD_LEN].load(Ordering::Acquire);
        if seen == mine {
            return true;
        }
        if round_of(seen) != round {
            return false;
        }
    }
    false
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
    let _ = THREAD.try_with(|t| t.interrupted.fetch_add(1, Ordering::AcqRel));
    if closed && bits != 0 && ROUND.load(Ordering::SeqCst) == round {
        acknowledge(round, sys::gettid());
    }
}

/// The round lock (see [`ROUND_OWNER`]); clears [`REVOKE_BITS`] when dropped,
/// on every path: a signal of a round can be delivered after it ends (to a
/// thread that acknowledged an earlier one), by when its keys may guard new
/// regions, so a late handler must close nothing.
#[derive(Debug)]
pub(crate) struct RoundLock {
    _held: crate::sync::Held,
}

impl Drop for RoundLock {
    fn drop(&mut self) {
        REVOKE_BITS.store(0, Ordering::SeqCst);
        ROUND_OWNER.store(0, Ordering::Release);
    }
}

/// Takes the round lock, waiting for another thread's round as long as it makes
/// progress (at most twice [`PATIENCE`] with no thread answering it).
///
/// # Errors
///
/// [`Revocation::Busy`].
pub(crate) fn lock_rounds() -> Result<RoundLock, Revocation> {
    let me = sys::getpid();
    let mut deadline = Instant::now() + PATIENCE * 2;
    let mut seen = PROGRESS.load(Ordering::Relaxed);
    loop {
        let owner = ROUND_OWNER.load(Ordering::Acquire);
        // A pid other than ours: the word was copied into this `fork` child
        // while a thread of the parent held it; nobody holds it here.
        let free = owner == 0 || owner != me;
        if free
            && ROUND_OWNER.compare_exchange(owner, me, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            return Ok(RoundLock { _held: crate::sync::Held::count() });
        }
        let progress = PROGRESS.load(Ordering::Relaxed);
        if progress != seen {
            seen = progress;
            deadline = Instant::now() + PATIENCE * 2;
        } else if Instant::now() > deadline {
            return Err(Revocation::Busy);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Closes `keys` (bit `k` for key `k`) in every thread of the process that
/// [`Reach`] says may hold them open (see the module docs), before they guard
/// new regions. The caller holds the round lock and guarantees no region holds
/// these keys. On error nothing else changed: the keys are closed in the
/// threads reached so far and must be revoked again before use.
///
/// # Errors
///
/// Why some thread could not be reached ([`Revocation`]).
pub(crate) fn revoke(_lock: &RoundLock, keys: u32, reach: Reach) -> Result<(), Revocation> {
    let signal = install_revocation()?;
    // A handler the program installed on our signal since: no round can work.
    match sys::sigaction_query(signal) {
        Ok(now) if sys::handler_of(&now) == sys::address_of(on_revoke) => {}
        _ => return Err(Revocation::SignalTaken { signal }),
    }
    let bits = usable_keys().filter(|k| keys & (1 << k) != 0).fold(0, |b, k| b | (0b11 << (2 * k)));
    for key in usable_keys().filter(|k| keys & (1 << k) != 0) {
        KEY_GEN[idx(key)].fetch_add(1, Ordering::SeqCst);
    }
    let mut round = ROUND.load(Ordering::SeqCst).wrapping_add(1);
    if round == 0 {
        round = 1;
    }
    REVOKE_BITS.store(bits, Ordering::SeqCst);
    ROUND.store(round, Ordering::SeqCst);
    ROUNDS.fetch_add(1, Ordering::Relaxed);
    // This thread: its counts for the keys are stale now, so a resync closes them.
    THREAD.with(ThreadKeys::resync);
    let me = sys::gettid();
    let openers: std::collections::HashSet<i32> = lock(&OPENERS).iter().copied().collect();
    let mut decided: std::collections::HashSet<i32> = std::collections::HashSet::new();
    loop {
        // A transient failure (EMFILE) is retried before the round is given up.
        let tids = match sys::thread_ids().or_else(|_| sys::thread_ids()) {
            Ok(tids) => tids,
            Err(source) => return Err(Revocation::ThreadList { source }),
        };
        let mut todo = Vec::new();
        for tid in tids {
            if tid == me || !decided.insert(tid) {
                continue;
            }
            let needed = match reach {
                Reach::Every => true,
                Reach::Since(ticks) => {
                    openers.contains(&tid)
                        || match sys::thread_stat(tid) {
                            Ok(stat) => stat.start_ticks >= ticks,
                            Err(err) => err.kind() != std::io::ErrorKind::NotFound,
                        }
                }
            };
            if needed {
                todo.push(tid);
            }
        }
        // Threads created during the round inherited a PKRU from before it: the
        // list is read again until it brings nobody new.
        if todo.is_empty() {
            return Ok(());
        }
        for batch in todo.chunks(BATCH) {
            reach_batch(round, signal, batch)?;
        }
    }
}

/// Whether thread `tid` blocks `signal` now, and if so whether it looks stuck
/// that way: it has run for a second at least and sleeps (a thread being
/// created runs with every signal blocked for a moment, and so does one
/// running a handler; on a loaded machine, waiting for a CPU, that moment can
/// be long). `None` once it has exited or unblocked the signal.
fn blocks(tid: i32, signal: sys::Signal) -> Option<bool> {
    let bit = u32::try_from(signal - 1).map_or(0, |n| 1u64 << n.min(63));
    if sys::blocked_signals(tid).ok()? & bit == 0 {
        return None;
    }
    let stat = sys::thread_stat(tid).ok()?;
    Some(!stat.runnable && stat.start_ticks + sys::ticks_per_second() <= sys::boottime_ticks())
}

/// Signals every thread of `batch` and waits for each to acknowledge `round`
/// or exit, for at most [`PATIENCE`] after the last that did.
///
/// A thread that blocks the signal gets nothing sent while it does (a signal
/// it never takes would sit in its queue): it is signalled once it unblocks —
/// threads block every signal for a moment while they start, create threads or
/// processes, or run a handler of ours — and fails the round as
/// [`Revocation::SignalBlocked`] if it still blocks the signal after
/// [`BLOCKED_GRACE`] asleep (or, for a thread still starting or runnable, at
/// the deadline).
fn reach_batch(round: u32, signal: sys::Signal, batch: &[i32]) -> Result<(), Revocation> {
    let started = Instant::now();
    let mut deadline = started + PATIENCE;
    let send = |tid: i32, pending: &mut Vec<i32>| match sys::tgkill(tid, signal) {
        Ok(()) => {
            pending.push(tid);
            Ok(())
        }
        Err(err) if sys::is_no_such_thread(&err) => Ok(()),
        Err(err) if sys::is_queue_full(&err) => Err(Revocation::SignalQueueFull { tid, signal }),
        Err(source) => Err(Revocation::Tgkill { tid, source }),
    };
    let mut pending = Vec::with_capacity(batch.len());
    let mut blocking = Vec::new();
    for &tid in batch {
        if blocks(tid, signal).is_some() {
            blocking.push(tid);
        } else {
            send(tid, &mut pending)?;
        }
    }
    let mut spins = 0u32;
    let mut checked = Instant::now();
    loop {
        let mut still = Vec::new();
        for tid in blocking.drain(..) {
            match blocks(tid, signal) {
                None => send(tid, &mut pending)?,
                Some(stuck) => {
                    let now = Instant::now();
                    if (stuck && now > started + BLOCKED_GRACE) || now > deadline {
                        let name = sys::thread_name(tid);
                        return Err(Revocation::SignalBlocked { tid, name, signal });
                    }
                    still.push(tid);
                }
            }
        }
        blocking = still;
        let before = pending.len();
        pending.retain(|&tid| !acknowledged(round, tid));
        if pending.is_empty() && blocking.is_empty() {
            return Ok(());
        }
        // Threads that exited without answering: looked for only while nobody
        // answers (a check per pending thread is a `/proc` lookup each).
        if pending.len() == before && checked.elapsed() > Duration::from_millis(20) {
            checked = Instant::now();
            pending.retain(|&tid| sys::thread_alive(tid));
        }
        if pending.len() < before {
            PROGRESS.fetch_add(1, Ordering::Relaxed);
            deadline = Instant::now() + PATIENCE;
        }
        if let Some(&tid) = pending.first() {
            if Instant::now() > deadline {
                let name = sys::thread_name(tid);
                // Blocked after it was sent: the signal waits in its queue.
                return Err(if blocks(tid, signal).is_some() {
                    Revocation::SignalBlocked { tid, name, signal }
                } else {
                    Revocation::NoAnswer { tid, name, waited: started.elapsed() }
                });
            }
        }
        spins += 1;
        if spins < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_holds_more_acknowledgements_than_any_fixed_table_and_ignores_late_rounds() {
        let round = 0x5EED;
        ROUND.store(round, Ordering::SeqCst);
        let tids: Vec<i32> = (1..=i32::try_from(BATCH).unwrap()).map(|t| t * 7).collect();
        for &tid in &tids {
            acknowledge(round, tid);
            acknowledge(round, tid); // twice: still one slot
        }
        assert!(tids.iter().all(|&t| acknowledged(round, t)));
        assert!(!acknowledged(round, 3), "a thread that never answered");
        // The next round: every old word counts as free, and a late handler of
        // the old round writes nothing.
        ROUND.store(round + 1, Ordering::SeqCst);
        acknowledge(round, 11);
        assert!(!acknowledged(round + 1, 11));
        assert!(tids.iter().all(|&t| !acknowledged(round + 1, t)));
        acknowledge(round + 1, 14);
        assert!(acknowledged(round + 1, 14));
        ROUND.store(0, Ordering::SeqCst);
    }
}
