//! The scope protocol checked exhaustively: a deterministic interleaving
//! explorer over a step-for-step model of the source that runs a scope on a
//! dedicated region: `siegel/src/scope.rs` (`open_fast` and what it declines
//! to, `open`, `open_keyed`, `checked`, `check_failed`, `open_slow`,
//! `try_close`, `close`, `close_keyed`, `close_failed`, `admit_with_key`,
//! `wait_for_key`, `admit`, `reclaim_key`), `registry.rs` (`Seal`;
//! `Entry::{try_enter, enter, wait_out_maintenance, leave, try_exclusive,
//! unlock_exclusive, wipe_once, wipe_exclusive_at, set_key, poison}`,
//! `lockdown`), `region.rs` (`RegionScopes::{open_pages, close_pages, check,
//! intact, reseal_failed}`), `keys.rs` (`steal`, `obtain`), `pkru.rs`
//! (`open`, `close`, `finish_open`, `finish_close`) and `nest.rs` (a thread's
//! nested reads under page protection).
//!
//! Why not `loom`: the real code would need `cfg(loom)` atomics and mutexes in
//! the registry and the scope protocol (the hot path), and its system calls
//! and page protection cannot run under loom anyway. The model instead keeps
//! one atomic operation, lock operation or system call per step, in the order
//! of the source (a decision on values a step just read is part of that
//! step), and the explorer runs every interleaving of the threads
//! (depth-first, with a visited set), plus every placement of one failing
//! `mprotect` where a configuration allows it (what the fault injection sweep
//! injects), and, where a configuration allows them, a key that cannot be had
//! and a revocation round that fails. At every state it checks:
//!
//! - a thread holding a reference into the secret (between a passed canary
//!   check and its guard's drop) can read it: the pages or its key allow it,
//!   and the bytes are not wiped;
//! - a scope's key does not change while the scope is open (`try_close` reads
//!   it again), and a region that wants a key never opens with page
//!   protection (that would open it to every thread);
//! - at the end: no scope counted, the pages sealed (`PROT_NONE`, or the key
//!   closed), the entry's key the pages' key, a poisoned region wiped, an
//!   unpoisoned one intact, every open answered, and none answered
//!   `CanaryCorrupted`: nothing here corrupts a canary, so a check that finds
//!   the region wiped (a poisoned region) must answer `Poisoned`.
//!
//! # Keeping the model in step with the source
//!
//! The model is a hand-kept copy, so the source it mirrors is pinned: each
//! step (`Pc`, declared with `steps!`) names the source functions it mirrors,
//! and `MIRRORED` records each of those functions with a fingerprint of its
//! code — FNV-1a over the function (signature and body, found by brace
//! matching in the file read with `include_str!`) with comments, whitespace
//! and trailing commas left out, so that only a change to the code counts.
//! `the_model_matches_the_source` fails when a function changed, moved out of
//! its block or went away, naming it, the steps that mirror it and its new
//! fingerprint: re-read the function, update the model's steps for it, then
//! update the fingerprint. It also fails when a step names a function
//! `MIRRORED` does not list, or a listed function no step names, and
//! `every_step_is_reached` fails when the scenarios leave a step unexplored.

#![allow(
    clippy::struct_excessive_bools,
    reason = "the model mirrors the entry's atomic flags one to one"
)]

use std::{
    collections::{HashMap, HashSet},
    hash::{BuildHasherDefault, Hasher},
};

/// Page protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Prot {
    None,
    Read,
    ReadWrite,
}

/// `Counts::prot`.
fn prot_for(reads: u8, writes: u8) -> Prot {
    if writes > 0 {
        Prot::ReadWrite
    } else if reads > 0 {
        Prot::Read
    } else {
        Prot::None
    }
}

/// What a thread runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Role {
    /// `Protected::read` on the region (`Backing::open`: `scope::open_fast`,
    /// and `scope::open` if it declines), then the guard's drop
    /// (`scope::close`).
    Reader,
    /// A reader that, holding its guard, reads again (under page protection
    /// the second read nests on the first, counted in the thread alone:
    /// `nest`), then drops the inner guard and the outer one.
    NestedReader,
    /// `lockdown()`.
    Lockdown,
    /// A new region's `keys::obtain` finding every key taken: `steal`.
    Thief,
}

/// What a reader's open answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Answer {
    /// Not yet.
    Pending,
    /// `Ok`: a guard.
    Guard,
    Poisoned,
    CanaryCorrupted,
    KeysExhausted,
    /// A refused protection change or a failed key grant (`Protect`,
    /// `Revocation`).
    Failed,
}

/// `registry::Seal`: the entry's key, wants-key and poison bits as one load
/// returned them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Seal {
    key: u8,
    wants_key: bool,
    poisoned: bool,
}

impl Seal {
    /// `Seal::is_keyed_and_live`.
    fn is_keyed_and_live(self) -> bool {
        self.key != 0 && !self.poisoned
    }

    /// `Seal::needs_key`.
    fn needs_key(self) -> bool {
        self.wants_key && self.key == 0
    }
}

/// Declares the steps (`Pc`), each with the source functions it mirrors (see
/// the module docs): `Pc::ALL` lists them, `Pc::mirrors` names the functions.
macro_rules! steps {
    ($( $(#[doc = $doc:literal])* $pc:ident: [$($function:literal),* $(,)?], )*) => {
        /// Where a thread is: each variant is one step of the source, named
        /// after the function it runs in (and, in the brackets, every function
        /// whose code the step mirrors).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        enum Pc {
            $( $(#[doc = $doc])* $pc, )*
        }

        impl Pc {
            const ALL: &'static [Pc] = &[$(Pc::$pc),*];

            /// The source functions this step mirrors (names in `MIRRORED`).
            fn mirrors(self) -> &'static [&'static str] {
                match self {
                    $( Pc::$pc => &[$($function),*], )*
                }
            }
        }
    };
}

steps! {
    // --- Backing::open → scope::open_fast: a read nested under page protection
    /// `scope::open_fast` → `scope::open_nested_pages` (where `nest::any`
    /// says this thread records a read somewhere): `entry.seal()`, one load;
    /// live and unkeyed, and this thread records a counted read on the
    /// region (`nest::open_nested`, thread-local: part of this step) → the
    /// read is counted in the thread alone, `NestedCheck`; else `try_enter`.
    FastNestedPages: [
        "scope::open_fast",
        "scope::open_nested_pages",
        "Entry::seal",
        "Seal::is_unkeyed_and_live",
        "nest::any",
        "nest::open_nested",
    ],
    /// `scope::open_nested_pages` → `RegionScopes::intact`: reads the
    /// canary; intact → the guard, else `nest::close_read` and `try_enter`
    /// (the full protocol finds the same and reports it).
    NestedCheck: ["scope::open_nested_pages", "RegionScopes::intact", "nest::close_read"],
    // --- Backing::open → scope::open_fast → Entry::try_enter
    /// `Entry::try_enter`: `open.fetch_add(1)`; under the maintenance lock
    /// the fast path backs off (`FastBackOff`), else the seal.
    FastEnterAdd: ["scope::open_fast", "Entry::try_enter"],
    /// `Entry::try_enter`: `maintenance.load()`; set → `FastBackOff`, else the
    /// seal.
    FastEnterCheck: ["Entry::try_enter"],
    /// `Entry::try_enter`: `open.fetch_sub(1)` (no wipe check); the fast path
    /// declined with nothing counted: `open_slow` → `scope::open`.
    FastBackOff: ["Entry::try_enter"],
    /// `Entry::try_enter`: `self.seal()`, one load; `open_fast`: keyed and
    /// live → the key (`KeyedOpen`, fast), else `Fast::Counted`: `open_slow`
    /// goes on from this seal, counted (poisoned or needs a key → `leave`,
    /// `admit_with_key`; else the key: 0 → `open_pages`).
    FastSeal: [
        "Entry::try_enter",
        "Entry::seal",
        "scope::open_fast",
        "scope::open_fast_pages",
        "Seal::is_unkeyed_and_live",
        "scope::open_slow",
    ],
    /// `scope::open_fast_pages` → `Entry::try_share`: on page protection, a
    /// compare-exchange that counts the scope if the counts' protection lets
    /// it in (a failed exchange changes nothing and retries: one step);
    /// else `Fast::Counted` → `open_slow` → `open_pages`.
    /// A read counted so is recorded for the thread (`counted_pages` →
    /// `nest::counted`, thread-local).
    FastShare: [
        "scope::open_fast_pages",
        "RegionScopes::share",
        "Entry::try_share",
        "Entry::change_page_counts",
        "scope::counted_pages",
        "nest::counted",
    ],
    // --- scope::open → Entry::enter
    /// `Entry::enter`: `fetch_add(1)` on this thread's stripe (the model's
    /// `open` is the stripes' sum: every access is `SeqCst`, and a sum that
    /// misses an opener's count is read after the flag it sets, which that
    /// opener then finds).
    EnterAdd: ["Entry::enter"],
    /// `Entry::enter`: `maintenance.load()`; set → `wait_out_maintenance`.
    EnterCheck: ["Entry::enter"],
    /// `Entry::wait_out_maintenance`: `fetch_sub(1)` (no wipe check).
    EnterBackOff: ["Entry::wait_out_maintenance"],
    /// `Entry::wait_out_maintenance`: yields while the flag is set (blocked
    /// here), then counts again (`EnterAdd`). The source's further turns
    /// while the flag is set (count, see the flag, give the count back) are
    /// folded into this wait: such a passing count can only make a sum
    /// reader see a scope (a `try_exclusive` fails, a `leave` or
    /// `unlock_exclusive` skips the wipe), and the waiter's own open, once the
    /// flag clears, finds the region as it is and leaves with the same check.
    EnterWait: ["Entry::wait_out_maintenance"],
    /// `Entry::enter`: `self.seal()`, one load; then the caller's decision on
    /// it. `scope::open`: keyed and live → `open_keyed`, else `open_slow`:
    /// poisoned or needs a key → `leave`, `admit_with_key`; else the key.
    /// `scope::admit`: poisoned → `leave`, `Poisoned`; `admit_with_key` /
    /// `wait_for_key`: needs a key → `leave`, wait; else `open_slow`'s match
    /// on the key (0 → `open_pages`, else `open_keyed`).
    EnterSeal: [
        "Entry::enter",
        "Entry::seal",
        "Seal::key",
        "Seal::live_key",
        "Seal::is_keyed_and_live",
        "Seal::is_poisoned",
        "Seal::needs_key",
        "scope::open",
        "scope::open_slow",
        "scope::admit",
        "scope::admit_with_key",
        "scope::wait_for_key",
    ],
    /// `scope::open_keyed` (and the same lines of `open_fast`): `touch` (the
    /// LRU epoch), `pkru::open`: this thread's PKRU grants the key
    /// (`finish_open`, for a thread's first scope on the key or after an
    /// interrupted write, counts it or repairs other keys; a count at
    /// `u32::MAX`, which only leaked guards reach, panics there: not
    /// modelled). The out-of-line
    /// paths also give a thread its stripe of open counts
    /// (`registry::assign_stripe`), which the model does not tell apart: the
    /// count is the stripes' sum.
    KeyedOpen: [
        "scope::open_keyed",
        "scope::open_fast",
        "pkru::open",
        "pkru::finish_open",
        "scope::finished_and_checked",
        "scope::finish_fast",
    ],
    // --- Dedicated::open_pages
    /// `RegionScopes::open_pages`: `lock(&pages_lock)`, `page_counts()`.
    OpenPagesLock: ["RegionScopes::open_pages", "Entry::page_counts"],
    /// `RegionScopes::open_pages` → `set_pages`: `mprotect` if the protection
    /// changes; on failure the lock drops and `open_slow` leaves.
    OpenPagesProtect: ["RegionScopes::open_pages", "RegionScopes::set_pages", "scope::open_slow"],
    /// `RegionScopes::open_pages` → `add_page_count`: one more scope counted
    /// (a compare-exchange on what the counts are now), unlock; `open_slow`
    /// records the read for the thread (`counted_pages`, thread-local).
    OpenPagesStore: [
        "RegionScopes::open_pages",
        "Entry::add_page_count",
        "Entry::change_page_counts",
    ],
    // --- scope::checked
    /// `scope::checked` → `RegionScopes::check`, or `open_fast` →
    /// `RegionScopes::intact`: reads the canary. The fast path on a failed
    /// check: `give_back` (`close`), then `open_slow` → `scope::open` from
    /// the start, which finds the same and reports it.
    Check: [
        "scope::checked",
        "RegionScopes::check",
        "RegionScopes::intact",
        "scope::open_fast",
        "scope::checked_fast",
        "scope::give_back",
    ],
    /// `scope::check_failed`: `is_poisoned()` before `close`; a region
    /// poisoned since admission answers `Poisoned`, else the check's error.
    CheckFailed: ["scope::check_failed", "Entry::is_poisoned"],
    /// The guard is live: the thread may read the secret. Its drop runs
    /// `scope::close_own` (`close` for a handle's held access).
    Use: ["scope::close", "scope::close_own"],
    // --- scope::try_close
    /// `scope::try_close` / `scope::close`: `after_write` (nothing for a
    /// dedicated region; reads only here; a read close asks the key first,
    /// `close_read_keyed`, then `close_read_unkeyed`: the same steps),
    /// `entry.key()`: 0 → a read nested in the thread is given back there
    /// and nothing else, else the thread's record loses a counted read (both
    /// `nest::close_read`, thread-local, asked by `closed_nested`) and
    /// `unshare` (`close_unkeyed` → `close_pages_counted`); a key →
    /// `close_keyed`.
    CloseKey: [
        "scope::try_close",
        "scope::close",
        "scope::close_own",
        "scope::close_counted",
        "scope::close_read_keyed",
        "scope::close_read_unkeyed",
        "scope::close_pages_counted",
        "scope::closed_nested",
        "nest::close_read",
        "RegionScopes::after_write",
        "Entry::key",
    ],
    /// `scope::close_keyed` → `pkru::close` (or `finish_close_keyed` →
    /// `finish_close`): this thread's PKRU closes the key (as far as the
    /// thread's count says: PKRU is left as it is while the scopes still
    /// counted need the closed access, `ThreadKeys::apply_close`; the model's
    /// PKRU is the count); then `leave`. A guard's close (`pkru::close_own`) skips the key-generation check: the
    /// key cannot change under an open scope, which `CloseKey` checks.
    KeyedClose: [
        "scope::close_keyed",
        "pkru::close",
        "pkru::close_own",
        "scope::finish_close_keyed",
        "pkru::finish_close",
    ],
    /// `Entry::try_unshare` (`scope::close_unkeyed`, `try_close`): a
    /// compare-exchange that gives the scope back if the counts' protection
    /// stays (then `leave`); else `close_pages`.
    CloseUnshare: [
        "scope::close_unkeyed",
        "scope::close_pages_counted",
        "scope::try_close",
        "RegionScopes::unshare",
        "Entry::try_unshare",
        "Entry::change_page_counts",
    ],
    /// `RegionScopes::close_pages`: `lock(&pages_lock)`.
    ClosePagesLock: ["RegionScopes::close_pages"],
    /// `RegionScopes::close_pages` → `sub_page_count`: the scope given back
    /// first (a compare-exchange; the counts before are kept).
    ClosePagesStore: [
        "RegionScopes::close_pages",
        "Entry::sub_page_count",
        "Entry::change_page_counts",
    ],
    /// `RegionScopes::close_pages` → `set_pages`: `mprotect` if the
    /// protection of the counts before and after differs; unlock, and
    /// `try_close` (or `close` → `close_unkeyed`) leaves. On failure the
    /// scope is counted again (`add_page_count`), the lock drops,
    /// `try_close` returns the error and `close` → `close_failed` →
    /// `reseal_failed`.
    ClosePagesProtect: [
        "RegionScopes::close_pages",
        "RegionScopes::set_pages",
        "Entry::add_page_count",
        "scope::close_unkeyed",
        "scope::close_pages_counted",
        "scope::try_close",
        "scope::close_failed",
    ],
    // --- Dedicated::reseal_failed
    /// `RegionScopes::reseal_failed`: `lock(&pages_lock)`, `sub_page_count`;
    /// other scopes counted → unlock, `leave`.
    ResealCountsLock: ["RegionScopes::reseal_failed", "Entry::sub_page_count"],
    /// `RegionScopes::reseal_failed`: `entry.poison()`.
    ResealPoison: ["RegionScopes::reseal_failed", "Entry::poison"],
    /// `RegionScopes::reseal_failed` → `behind_seal::wipe`, where
    /// `/proc/self/mem` is refused: `protect(READ_WRITE)` (the wipe's re-seal
    /// to the counted protection is folded into `ResealSeal`).
    ResealWiden: ["RegionScopes::reseal_failed"],
    /// `RegionScopes::reseal_failed` → `behind_seal::wipe`: through
    /// `/proc/self/mem` (the pages stay as they are) or, widened, in place.
    ResealWipe: ["RegionScopes::reseal_failed"],
    /// `RegionScopes::reseal_failed`: `protect(NONE)` (the counts are zero
    /// already), unlock, then `leave`.
    ResealSeal: ["RegionScopes::reseal_failed"],
    // --- scope::admit
    /// `scope::admit`: `entry.is_poisoned()` → `Poisoned` (`scope::poisoned`:
    /// not `Forked`, no `fork` here).
    AdmitPoisoned: ["scope::admit", "Entry::is_poisoned", "scope::poisoned"],
    /// `scope::admit`: `entry.needs_key()` → `reclaim_key`; then `enter`.
    AdmitNeedsKey: ["scope::admit", "Entry::needs_key"],
    /// `scope::reclaim_key` → `try_exclusive`: the flag's compare-exchange;
    /// taken elsewhere → `Ok` (admit enters), else `TryCount`.
    ReclaimTryExclusive: ["scope::reclaim_key", "Entry::try_exclusive"],
    /// `Entry::try_exclusive`: the flag taken, sums the count (`count`); a
    /// scope counted → `TryBackOff`; else the caller goes on under the lock.
    TryCount: ["Entry::try_exclusive", "Entry::count"],
    /// `Entry::try_exclusive`: `maintenance.store(false)`, then the caller's
    /// failure path.
    TryBackOff: ["Entry::try_exclusive"],
    /// `scope::reclaim_key` → `keys::obtain`: a key (`pkey_alloc` or another
    /// region's, revoked everywhere), then `pkey_mprotect(RW, key)`; where a
    /// configuration allows it, no key (`Ok(None)`) or an error.
    ReclaimObtain: ["scope::reclaim_key", "keys::obtain"],
    /// `scope::reclaim_key`: `entry.set_key(key)`, then `unlock_exclusive`.
    ReclaimSetKey: ["scope::reclaim_key", "Entry::set_key"],
    /// `scope::wait_for_key`: sleeps, then `admit` again; gives up
    /// (`KeysExhausted`) after one retry here (the source retries while some
    /// keyed scope is open, up to a time limit).
    WaitForKey: ["scope::wait_for_key"],
    // --- Entry::leave
    /// `Entry::leave`: `fetch_sub(1)` on this thread's stripe.
    LeaveSub: ["Entry::leave"],
    /// `Entry::leave`: `is_poisoned()` → the count.
    LeavePoisoned: ["Entry::leave", "Entry::is_poisoned"],
    /// `Entry::leave`: `count() == 0` → `wipe_once`.
    LeaveCount: ["Entry::leave", "Entry::count"],
    // --- Entry::unlock_exclusive
    /// `Entry::unlock_exclusive`, still holding the lock: `is_poisoned()` →
    /// the count; else clear.
    UnlockPoisoned: ["Entry::unlock_exclusive", "Entry::is_poisoned"],
    /// `Entry::unlock_exclusive`: `count() == 0` (and not wiped, no `fork`
    /// here) → `wipe_exclusive` under the lock, then clear; else clear.
    UnlockCount: ["Entry::unlock_exclusive", "Entry::count"],
    /// `Entry::unlock_exclusive`: `maintenance.store(false)`.
    UnlockSub: ["Entry::unlock_exclusive"],
    // --- Entry::wipe_once → wipe_exclusive → wipe_exclusive_at
    /// `Entry::wipe_once`: `wipe == WIPED` → done (`is_inherited`: no `fork`
    /// here).
    WipeOnceCheck: ["Entry::wipe_once"],
    /// `Entry::wipe_once`: `count() != 0` → deferred (the last scope wipes).
    WipeCount: ["Entry::wipe_once", "Entry::count"],
    /// `Entry::wipe_once`: the flag's compare-exchange; taken → the count
    /// again; held elsewhere → wait for it (`sync::holding`: never here).
    WipeTryExclusive: ["Entry::wipe_once"],
    /// `Entry::wipe_once`: yields while the flag is held (blocked here), then
    /// from the top.
    WipeWait: ["Entry::wipe_once"],
    /// `Entry::wipe_once`, the flag taken: the entry still `LIVE` and
    /// poisoned (always, here: the model drops no region, and only poisoned
    /// regions are wiped; a dropped region's entry is left alone, see the
    /// registry's `a_wipe_that_waited_for_a_drop_leaves_the_entry_alone`),
    /// then `count() == 0` → wipe, else clear (an opener counted since: it
    /// closes, and wipes, after this).
    WipeRecount: ["Entry::wipe_once", "Entry::count"],
    /// `Entry::wipe_exclusive_at`: `wipe` CAS `NOT_WIPED → WIPING`.
    WipeMark: ["Entry::wipe_exclusive", "Entry::wipe_exclusive_at"],
    /// `Entry::wipe_exclusive_at`: `self.key()`.
    WipeKey: ["Entry::wipe_exclusive_at", "Entry::key"],
    /// `Entry::wipe_exclusive_at`: `lock(&counts)` (page protection).
    WipeLock: ["Entry::wipe_exclusive_at"],
    /// `Entry::wipe_exclusive_at`: the wipe (page protection: open for writing
    /// → directly, else through /proc/self/mem, else widen, wipe, re-seal;
    /// keyed: `with_write_access` in this thread only), the counts lock drops.
    WipeDo: ["Entry::wipe_exclusive_at"],
    /// `Entry::wipe_exclusive_at`: `wipe.store(WIPED)`.
    WipeStore: ["Entry::wipe_exclusive_at"],
    /// `Entry::wipe_once` / `unlock_exclusive` after a wipe:
    /// `maintenance.store(false)`.
    WipeRelease: ["Entry::wipe_once", "Entry::unlock_exclusive"],
    // --- registry::lockdown
    /// `lockdown`: `entry.poison()`, then `wipe_once`.
    LockdownPoison: ["registry::lockdown", "Entry::poison"],
    // --- keys::steal (the region is the only candidate victim)
    /// `keys::steal`: `entry.is_virtualised()`; not → no victim.
    StealVirtualised: ["keys::steal", "Entry::is_virtualised"],
    /// `keys::steal`: `entry.key() == 0` → no victim.
    StealKey: ["keys::steal", "Entry::key"],
    /// `keys::steal`: `entry.is_open()` → no victim.
    StealIsOpen: ["keys::steal", "Entry::is_open"],
    /// `keys::steal`: `victim.try_exclusive()`; held → scan again (once here).
    StealTryExclusive: ["keys::steal", "Entry::try_exclusive"],
    /// `keys::steal`: the victim's `try_exclusive` failed → scan again.
    StealRescan: ["keys::steal"],
    /// `keys::steal`: `victim.key()` again; 0 → unlock, scan again.
    StealKeyAgain: ["keys::steal", "Entry::key"],
    /// `keys::steal`: `pkey_mprotect(NONE, 0)`; refused (where a configuration
    /// allows it) → unlock, scan again.
    StealSeal: ["keys::steal"],
    /// `keys::steal`: `victim.set_key(0)`.
    StealSetKey: ["keys::steal", "Entry::set_key"],
    /// `keys::steal`: `pkru::revoke`; ok → `unlock_exclusive`, the key is
    /// the thief's; failed (where a configuration allows it) → give it back.
    StealRevoke: ["keys::steal"],
    /// `keys::steal`: `pkey_mprotect(RW, key)`; refused → it stays sealed
    /// (and asks for a key at its next open): unlock.
    StealGiveBack: ["keys::steal"],
    /// `keys::steal`: `victim.set_key(key)`, then unlock.
    StealSetKeyBack: ["keys::steal", "Entry::set_key"],
    /// Finished.
    Done: [],
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Thread {
    role: Role,
    pc: Pc,
    /// `open_pages`/`close_pages`: the counts computed before the syscall.
    next: (u8, u8),
    /// This thread's count of keyed scopes on the region (`pkru`'s): its
    /// PKRU grants the key while it is not zero.
    granted: u8,
    /// The key this scope opened under (0: page protection); the thief's
    /// victim's key.
    key: u8,
    /// `nest`: the counted reads this thread records on the region.
    counted: u8,
    /// `nest`: the reads this thread counts in itself alone.
    nested: u8,
    /// A nested reader: the inner open has started.
    inner: bool,
    /// A nested reader: the outer guard is held while the inner scope runs;
    /// where the inner scope ends (`Done`), the outer one closes.
    outer: bool,
    /// What `Entry::enter` returned.
    seal: Seal,
    /// Whether the open runs `open_fast` (else `scope::open`).
    fast: bool,
    /// Whether the scope being closed was the fast path's, given back after
    /// a failed check: its `leave` returns to `scope::open`.
    retry: bool,
    /// Whether `enter` runs for `admit` (else for `open`).
    admitting: bool,
    /// Where `leave`, `unlock_exclusive` and `wipe_once` return to.
    ret: Pc,
    /// Where `try_exclusive` goes on: taken, or not.
    on_ok: Pc,
    on_fail: Pc,
    /// `wait_for_key`'s retries; `steal`'s scans after the first.
    tries: u8,
    answer: Answer,
}

/// One region under the protocol, and the threads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    // registry::Entry
    /// Scopes counted (and spinning openers counted for a moment).
    open: u8,
    /// `EXCLUSIVE` added to `open`: the maintenance lock.
    exclusive: bool,
    poisoned: bool,
    wipe: u8,
    key: u8,
    wants_key: bool,
    counts_lock: Option<u8>,
    reads: u8,
    writes: u8,
    // the pages
    prot: Prot,
    /// The pages' protection key.
    tag: u8,
    wiped: bool,
    /// `mprotect` failures still to inject.
    failures: u8,
    /// Whether a re-seal (a close's `mprotect`) may fail, or only opens.
    closes_fail: bool,
    /// Whether `keys::obtain` may find no key or fail, and a steal's
    /// revocation round fail.
    key_failures: bool,
    threads: Vec<Thread>,
    /// A step found the protocol broken (a fault).
    broken: Option<&'static str>,
}

const NOT_WIPED: u8 = 0;
const WIPING: u8 = 1;
const WIPED: u8 = 2;

/// The key `keys::obtain` hands a region that takes one back.
const RECLAIMED_KEY: u8 = 2;

impl State {
    fn new(roles: &[Role], key: u8, wants_key: bool, failures: u8) -> Self {
        let threads = roles
            .iter()
            .map(|&role| Thread {
                role,
                pc: match role {
                    Role::Reader | Role::NestedReader => Pc::FastNestedPages,
                    Role::Lockdown => Pc::LockdownPoison,
                    Role::Thief => Pc::StealVirtualised,
                },
                next: (0, 0),
                granted: 0,
                key: 0,
                counted: 0,
                nested: 0,
                inner: false,
                outer: false,
                seal: Seal { key: 0, wants_key: false, poisoned: false },
                fast: matches!(role, Role::Reader | Role::NestedReader),
                retry: false,
                admitting: false,
                ret: Pc::Done,
                on_ok: Pc::Done,
                on_fail: Pc::Done,
                tries: 0,
                answer: Answer::Pending,
            })
            .collect();
        Self {
            open: 0,
            exclusive: false,
            poisoned: false,
            wipe: NOT_WIPED,
            key,
            wants_key,
            counts_lock: None,
            reads: 0,
            writes: 0,
            prot: Prot::None,
            tag: key,
            wiped: false,
            failures,
            closes_fail: true,
            key_failures: false,
            threads,
            broken: None,
        }
    }

    /// Whether thread `t` can read the secret now (its key or the pages).
    fn readable_by(&self, t: usize) -> bool {
        if self.tag != 0 {
            self.threads[t].granted > 0 && self.threads[t].key == self.tag
        } else {
            self.prot != Prot::None
        }
    }

    /// Thread `t` calls a function that returns to `ret` (`leave`,
    /// `unlock_exclusive`, `wipe_once`).
    fn call(&mut self, t: usize, pc: Pc, ret: Pc) {
        self.threads[t].ret = ret;
        self.threads[t].pc = pc;
    }

    /// A closed scope's `leave`: back to `open` for a scope the fast path gave
    /// back (`give_back`), else done.
    fn leave_closed(&mut self, t: usize) {
        let ret = if self.threads[t].retry { Pc::EnterAdd } else { Pc::Done };
        self.threads[t].retry = false;
        self.call(t, Pc::LeaveSub, ret);
    }

    /// Thread `t` returns from `leave`, `unlock_exclusive` or `wipe_once`.
    fn ret(&mut self, t: usize) {
        self.threads[t].pc = self.threads[t].ret;
    }

    /// `scope::open_slow`'s match on the seal's key: 0 → `open_pages`, else
    /// `open_keyed`.
    fn grant(&mut self, t: usize, key: u8) {
        self.threads[t].key = key;
        self.threads[t].pc = if key == 0 { Pc::OpenPagesLock } else { Pc::KeyedOpen };
    }

    /// `scope::open_slow` on a counted seal that is not live and keyed:
    /// poisoned or needs a key → `leave`, `admit_with_key`; else the key.
    fn open_slow(&mut self, t: usize, seal: Seal) {
        if seal.poisoned || seal.needs_key() {
            self.threads[t].admitting = true;
            self.call(t, Pc::LeaveSub, Pc::AdmitPoisoned);
        } else {
            self.grant(t, seal.key);
        }
    }

    /// `keys::steal`'s `continue`: scan again (once here), or give up.
    fn rescan(&mut self, t: usize) -> Pc {
        if self.threads[t].tries == 0 {
            self.threads[t].tries = 1;
            Pc::StealVirtualised
        } else {
            Pc::Done
        }
    }

    /// `try_exclusive` after its flag was taken (`TryCount`): goes on at
    /// `ok` or, after `TryBackOff`, at `fail`.
    fn try_count(&mut self, t: usize, ok: Pc, fail: Pc) {
        self.threads[t].on_ok = ok;
        self.threads[t].on_fail = fail;
        self.threads[t].pc = Pc::TryCount;
    }

    /// The states thread `t` can reach in one step (empty: done or blocked):
    /// where a nested reader's inner scope ended (opened and closed, or its
    /// open failed), it uses its outer guard again (which must still read the
    /// secret), then closes it.
    fn step(&self, t: usize) -> Vec<Self> {
        let mut next = self.step_in(t);
        for s in &mut next {
            let th = &mut s.threads[t];
            if th.pc == Pc::Done && th.outer {
                th.outer = false;
                th.retry = false;
                th.pc = Pc::Use;
            }
        }
        next
    }

    #[allow(clippy::too_many_lines, reason = "one arm per step of the source")]
    fn step_in(&self, t: usize) -> Vec<Self> {
        let mut s = self.clone();
        let me = u8::try_from(t).expect("few threads");
        let th = self.threads[t].clone();
        let goto = |s: &mut Self, pc: Pc| s.threads[t].pc = pc;
        match th.pc {
            Pc::Done => return vec![],
            // --- scope::open_nested_pages
            Pc::FastNestedPages => {
                let live_unkeyed = s.key == 0 && !s.wants_key && !s.poisoned;
                if live_unkeyed && th.counted > 0 {
                    s.threads[t].nested += 1;
                    goto(&mut s, Pc::NestedCheck);
                } else {
                    goto(&mut s, Pc::FastEnterAdd);
                }
            }
            Pc::NestedCheck => {
                if s.prot == Prot::None {
                    return vec![
                        s.fail("a nested read's canary check faults: the pages are sealed")
                    ];
                }
                if s.wiped {
                    s.threads[t].nested -= 1;
                    goto(&mut s, Pc::FastEnterAdd);
                } else {
                    s.threads[t].key = 0;
                    s.threads[t].answer = Answer::Guard;
                    goto(&mut s, Pc::Use);
                }
            }
            // --- Entry::try_enter (scope::open_fast)
            Pc::FastEnterAdd => {
                s.open += 1;
                goto(&mut s, Pc::FastEnterCheck);
            }
            Pc::FastEnterCheck => {
                let next = if s.exclusive { Pc::FastBackOff } else { Pc::FastSeal };
                goto(&mut s, next);
            }
            Pc::FastBackOff => {
                s.open -= 1;
                s.threads[t].fast = false;
                goto(&mut s, Pc::EnterAdd);
            }
            Pc::FastSeal => {
                let seal = Seal { key: s.key, wants_key: s.wants_key, poisoned: s.poisoned };
                s.threads[t].seal = seal;
                if seal.is_keyed_and_live() {
                    s.threads[t].key = seal.key;
                    goto(&mut s, Pc::KeyedOpen);
                } else if seal.key == 0 && !seal.wants_key && !seal.poisoned {
                    // open_fast_pages: try_share.
                    goto(&mut s, Pc::FastShare);
                } else {
                    // Fast::Counted: open_slow from this seal.
                    s.threads[t].fast = false;
                    s.open_slow(t, seal);
                }
            }
            Pc::FastShare => {
                if s.reads > 0 || s.writes > 0 {
                    s.reads += 1;
                    s.threads[t].counted += 1;
                    s.threads[t].key = 0;
                    goto(&mut s, Pc::Check);
                } else {
                    // Fast::Counted → open_slow: the key is 0 → open_pages.
                    s.threads[t].fast = false;
                    s.grant(t, 0);
                }
            }
            // --- Entry::enter
            Pc::EnterAdd => {
                s.open += 1;
                goto(&mut s, Pc::EnterCheck);
            }
            Pc::EnterCheck => {
                let next = if s.exclusive { Pc::EnterBackOff } else { Pc::EnterSeal };
                goto(&mut s, next);
            }
            Pc::EnterBackOff => {
                s.open -= 1;
                goto(&mut s, Pc::EnterWait);
            }
            Pc::EnterWait => {
                if s.exclusive {
                    return vec![];
                }
                goto(&mut s, Pc::EnterAdd);
            }
            Pc::EnterSeal => {
                let seal = Seal { key: s.key, wants_key: s.wants_key, poisoned: s.poisoned };
                s.threads[t].seal = seal;
                if !th.admitting {
                    // scope::open
                    if seal.is_keyed_and_live() {
                        s.threads[t].key = seal.key;
                        goto(&mut s, Pc::KeyedOpen);
                    } else {
                        s.open_slow(t, seal);
                    }
                } else if seal.poisoned {
                    // admit
                    s.threads[t].answer = Answer::Poisoned;
                    s.call(t, Pc::LeaveSub, Pc::Done);
                } else if seal.needs_key() {
                    // admit_with_key / wait_for_key
                    s.call(t, Pc::LeaveSub, Pc::WaitForKey);
                } else {
                    s.grant(t, seal.key);
                }
            }
            // --- scope::open_keyed
            Pc::KeyedOpen => {
                s.threads[t].granted += 1;
                goto(&mut s, Pc::Check);
            }
            // --- Dedicated::open_pages
            Pc::OpenPagesLock => {
                if s.wants_key {
                    return vec![s.fail("a region that wants a key opened with page protection")];
                }
                if s.counts_lock.is_some() {
                    return vec![];
                }
                s.counts_lock = Some(me);
                s.threads[t].next = (s.reads + 1, s.writes);
                goto(&mut s, Pc::OpenPagesProtect);
            }
            Pc::OpenPagesProtect => {
                let (r, w) = th.next;
                let want = prot_for(r, w);
                if want == prot_for(s.reads, s.writes) {
                    goto(&mut s, Pc::OpenPagesStore);
                    return vec![s];
                }
                let mut ok = s.clone();
                ok.prot = want;
                ok.threads[t].pc = Pc::OpenPagesStore;
                let mut out = vec![ok];
                if s.failures > 0 {
                    // Failed: nothing changed; the lock drops, open_slow
                    // leaves and returns the error.
                    s.failures -= 1;
                    s.counts_lock = None;
                    s.threads[t].answer = Answer::Failed;
                    s.call(t, Pc::LeaveSub, Pc::Done);
                    out.push(s);
                }
                return out;
            }
            Pc::OpenPagesStore => {
                s.reads += 1;
                s.threads[t].counted += 1;
                s.counts_lock = None;
                goto(&mut s, Pc::Check);
            }
            // --- scope::checked
            Pc::Check => {
                if !s.readable_by(t) {
                    return vec![s.fail("the canary check faults: the pages are not readable")];
                }
                if s.wiped && th.fast {
                    // give_back: close, then open_slow from the start.
                    s.threads[t].fast = false;
                    s.threads[t].retry = true;
                    goto(&mut s, Pc::CloseKey);
                } else if s.wiped {
                    goto(&mut s, Pc::CheckFailed);
                } else {
                    s.threads[t].answer = Answer::Guard;
                    goto(&mut s, Pc::Use);
                }
            }
            Pc::CheckFailed => {
                s.threads[t].answer =
                    if s.poisoned { Answer::Poisoned } else { Answer::CanaryCorrupted };
                goto(&mut s, Pc::CloseKey);
            }
            Pc::Use => {
                if th.role == Role::NestedReader && !th.inner {
                    // Reads again, holding the guard.
                    s.threads[t].inner = true;
                    s.threads[t].outer = true;
                    s.threads[t].fast = true;
                    s.threads[t].answer = Answer::Pending;
                    goto(&mut s, Pc::FastNestedPages);
                } else {
                    goto(&mut s, Pc::CloseKey);
                }
            }
            // --- scope::try_close
            Pc::CloseKey => {
                if s.key != th.key {
                    return vec![s.fail("the region's key changed under an open scope")];
                }
                if s.key != 0 {
                    goto(&mut s, Pc::KeyedClose);
                } else if th.nested > 0 {
                    // nest::close_read: given back in the thread alone.
                    s.threads[t].nested -= 1;
                    if th.retry {
                        s.threads[t].retry = false;
                        goto(&mut s, Pc::EnterAdd);
                    } else {
                        goto(&mut s, Pc::Done);
                    }
                } else {
                    s.threads[t].counted = th.counted.saturating_sub(1);
                    goto(&mut s, Pc::CloseUnshare);
                }
            }
            Pc::KeyedClose => {
                s.threads[t].granted -= 1;
                s.leave_closed(t);
            }
            Pc::CloseUnshare => {
                let Some(r) = s.reads.checked_sub(1) else {
                    return vec![s.fail("a page scope closed without being counted")];
                };
                if prot_for(r, s.writes) == prot_for(s.reads, s.writes) {
                    s.reads = r;
                    s.leave_closed(t);
                } else {
                    goto(&mut s, Pc::ClosePagesLock);
                }
            }
            Pc::ClosePagesLock => {
                if s.counts_lock.is_some() {
                    return vec![];
                }
                s.counts_lock = Some(me);
                goto(&mut s, Pc::ClosePagesStore);
            }
            Pc::ClosePagesStore => {
                // sub_page_count: the counts before are kept for set_pages.
                s.threads[t].next = (s.reads, s.writes);
                s.reads -= 1;
                goto(&mut s, Pc::ClosePagesProtect);
            }
            Pc::ClosePagesProtect => {
                let (r, w) = th.next;
                let (from, want) = (prot_for(r, w), prot_for(r - 1, w));
                s.counts_lock = None;
                if want == from {
                    s.leave_closed(t);
                    return vec![s];
                }
                let mut ok = s.clone();
                ok.prot = want;
                ok.leave_closed(t);
                let mut out = vec![ok];
                if s.failures > 0 && s.closes_fail {
                    // The re-seal failed: `close_pages` counts the scope again
                    // and returns the error, its lock released; `close` calls
                    // `reseal_failed`, which takes the lock again and decides
                    // under it.
                    s.failures -= 1;
                    s.reads += 1;
                    goto(&mut s, Pc::ResealCountsLock);
                    out.push(s);
                }
                return out;
            }
            // --- Dedicated::reseal_failed: under the counts lock, give this
            // scope back; only if it was the last one, poison, wipe and seal.
            Pc::ResealCountsLock => {
                if s.counts_lock.is_some() {
                    return vec![];
                }
                s.counts_lock = Some(me);
                // sub_page_count: given back first.
                s.reads -= 1;
                if (s.reads, s.writes) == (0, 0) {
                    goto(&mut s, Pc::ResealPoison);
                } else {
                    s.counts_lock = None;
                    s.call(t, Pc::LeaveSub, Pc::Done);
                }
            }
            Pc::ResealPoison => {
                s.poisoned = true;
                // The ladder: through the kernel, or (no /proc/self/mem) widen.
                let mut widen = s.clone();
                widen.threads[t].pc = Pc::ResealWiden;
                goto(&mut s, Pc::ResealWipe);
                return vec![s, widen];
            }
            Pc::ResealWiden => {
                s.prot = Prot::ReadWrite;
                goto(&mut s, Pc::ResealWipe);
            }
            Pc::ResealWipe => {
                s.wiped = true;
                s.wipe = WIPED;
                goto(&mut s, Pc::ResealSeal);
            }
            Pc::ResealSeal => {
                s.prot = Prot::None;
                s.counts_lock = None;
                s.call(t, Pc::LeaveSub, Pc::Done);
            }
            // --- scope::admit
            Pc::AdmitPoisoned => {
                if s.poisoned {
                    s.threads[t].answer = Answer::Poisoned;
                    goto(&mut s, Pc::Done);
                } else {
                    goto(&mut s, Pc::AdmitNeedsKey);
                }
            }
            Pc::AdmitNeedsKey => {
                let pc =
                    if s.key == 0 && s.wants_key { Pc::ReclaimTryExclusive } else { Pc::EnterAdd };
                goto(&mut s, pc);
            }
            // --- scope::reclaim_key
            Pc::ReclaimTryExclusive => {
                if s.exclusive {
                    goto(&mut s, Pc::EnterAdd);
                } else {
                    s.exclusive = true;
                    s.try_count(t, Pc::ReclaimObtain, Pc::EnterAdd);
                }
            }
            Pc::TryCount => {
                let next = if s.open == 0 { th.on_ok } else { Pc::TryBackOff };
                goto(&mut s, next);
            }
            Pc::TryBackOff => {
                s.exclusive = false;
                goto(&mut s, th.on_fail);
            }
            Pc::ReclaimObtain => {
                let mut out = Vec::new();
                if s.key_failures {
                    // Ok(None): every key pinned; admit enters all the same.
                    let mut none = s.clone();
                    none.call(t, Pc::UnlockPoisoned, Pc::EnterAdd);
                    out.push(none);
                    // Err: the open fails with it.
                    let mut err = s.clone();
                    err.threads[t].answer = Answer::Failed;
                    err.call(t, Pc::UnlockPoisoned, Pc::Done);
                    out.push(err);
                }
                s.tag = RECLAIMED_KEY;
                s.prot = Prot::ReadWrite;
                goto(&mut s, Pc::ReclaimSetKey);
                out.push(s);
                return out;
            }
            Pc::ReclaimSetKey => {
                s.key = RECLAIMED_KEY;
                s.call(t, Pc::UnlockPoisoned, Pc::EnterAdd);
            }
            // --- scope::wait_for_key
            Pc::WaitForKey => {
                if th.tries == 0 {
                    s.threads[t].tries = 1;
                    goto(&mut s, Pc::AdmitPoisoned);
                } else {
                    s.threads[t].answer = Answer::KeysExhausted;
                    goto(&mut s, Pc::Done);
                }
            }
            // --- Entry::leave
            Pc::LeaveSub => {
                let Some(open) = s.open.checked_sub(1) else {
                    return vec![s.fail("leave without a counted scope")];
                };
                s.open = open;
                goto(&mut s, Pc::LeavePoisoned);
            }
            Pc::LeavePoisoned => {
                if s.poisoned {
                    goto(&mut s, Pc::LeaveCount);
                } else {
                    s.ret(t);
                }
            }
            Pc::LeaveCount => {
                if s.open == 0 {
                    goto(&mut s, Pc::WipeOnceCheck);
                } else {
                    s.ret(t);
                }
            }
            // --- Entry::unlock_exclusive
            Pc::UnlockPoisoned => {
                let next = if s.poisoned { Pc::UnlockCount } else { Pc::UnlockSub };
                goto(&mut s, next);
            }
            Pc::UnlockCount => {
                let next =
                    if s.open == 0 && s.wipe != WIPED { Pc::WipeMark } else { Pc::UnlockSub };
                goto(&mut s, next);
            }
            // --- Entry::wipe_once / wipe_exclusive_at
            Pc::WipeOnceCheck => {
                if s.wipe == WIPED {
                    s.ret(t);
                } else {
                    goto(&mut s, Pc::WipeCount);
                }
            }
            Pc::WipeCount => {
                if s.open == 0 {
                    goto(&mut s, Pc::WipeTryExclusive);
                } else {
                    s.ret(t);
                }
            }
            Pc::WipeTryExclusive => {
                if s.exclusive {
                    goto(&mut s, Pc::WipeWait);
                } else {
                    s.exclusive = true;
                    goto(&mut s, Pc::WipeRecount);
                }
            }
            Pc::WipeWait => {
                if s.exclusive {
                    return vec![];
                }
                goto(&mut s, Pc::WipeOnceCheck);
            }
            Pc::WipeRecount => {
                let next = if s.open == 0 { Pc::WipeMark } else { Pc::WipeRelease };
                goto(&mut s, next);
            }
            Pc::WipeMark => {
                if s.wipe == NOT_WIPED {
                    s.wipe = WIPING;
                    goto(&mut s, Pc::WipeKey);
                } else {
                    goto(&mut s, Pc::WipeRelease);
                }
            }
            Pc::WipeKey => {
                let pc = if s.key == 0 { Pc::WipeLock } else { Pc::WipeDo };
                goto(&mut s, pc);
            }
            Pc::WipeLock => {
                if s.counts_lock.is_some() {
                    return vec![];
                }
                s.counts_lock = Some(me);
                goto(&mut s, Pc::WipeDo);
            }
            Pc::WipeDo => {
                // Never opens the pages to another thread.
                s.wiped = true;
                if s.counts_lock == Some(me) {
                    s.counts_lock = None;
                }
                goto(&mut s, Pc::WipeStore);
            }
            Pc::WipeStore => {
                s.wipe = WIPED;
                goto(&mut s, Pc::WipeRelease);
            }
            Pc::UnlockSub | Pc::WipeRelease => {
                s.exclusive = false;
                s.ret(t);
            }
            // --- lockdown
            Pc::LockdownPoison => {
                s.poisoned = true;
                s.call(t, Pc::WipeOnceCheck, Pc::Done);
            }
            // --- keys::steal
            Pc::StealVirtualised => {
                let pc = if s.wants_key { Pc::StealKey } else { Pc::Done };
                goto(&mut s, pc);
            }
            Pc::StealKey => {
                let pc = if s.key == 0 { Pc::Done } else { Pc::StealIsOpen };
                goto(&mut s, pc);
            }
            Pc::StealIsOpen => {
                let pc = if s.open != 0 || s.exclusive { Pc::Done } else { Pc::StealTryExclusive };
                goto(&mut s, pc);
            }
            Pc::StealTryExclusive => {
                if s.exclusive {
                    goto(&mut s, Pc::StealRescan);
                } else {
                    s.exclusive = true;
                    s.try_count(t, Pc::StealKeyAgain, Pc::StealRescan);
                }
            }
            Pc::StealRescan => {
                let pc = s.rescan(t);
                goto(&mut s, pc);
            }
            Pc::StealKeyAgain => {
                s.threads[t].key = s.key;
                if s.key == 0 {
                    let pc = s.rescan(t);
                    s.call(t, Pc::UnlockPoisoned, pc);
                } else {
                    goto(&mut s, Pc::StealSeal);
                }
            }
            Pc::StealSeal => {
                let mut out = Vec::new();
                if s.failures > 0 {
                    let mut refused = s.clone();
                    refused.failures -= 1;
                    let pc = refused.rescan(t);
                    refused.call(t, Pc::UnlockPoisoned, pc);
                    out.push(refused);
                }
                // pkey_mprotect(NONE, 0)
                s.tag = 0;
                s.prot = Prot::None;
                goto(&mut s, Pc::StealSetKey);
                out.push(s);
                return out;
            }
            Pc::StealSetKey => {
                s.key = 0;
                goto(&mut s, Pc::StealRevoke);
            }
            Pc::StealRevoke => {
                let mut out = Vec::new();
                if s.key_failures {
                    let mut failed = s.clone();
                    failed.threads[t].pc = Pc::StealGiveBack;
                    out.push(failed);
                }
                s.call(t, Pc::UnlockPoisoned, Pc::Done);
                out.push(s);
                return out;
            }
            Pc::StealGiveBack => {
                let mut out = Vec::new();
                if s.failures > 0 {
                    // Stays sealed (key 0), asks for a key at its next open.
                    let mut refused = s.clone();
                    refused.failures -= 1;
                    refused.call(t, Pc::UnlockPoisoned, Pc::Done);
                    out.push(refused);
                }
                // pkey_mprotect(RW, key)
                s.tag = th.key;
                s.prot = Prot::ReadWrite;
                goto(&mut s, Pc::StealSetKeyBack);
                out.push(s);
                return out;
            }
            Pc::StealSetKeyBack => {
                s.key = th.key;
                s.call(t, Pc::UnlockPoisoned, Pc::Done);
            }
        }
        vec![s]
    }

    /// A state that records a violation (the explorer stops there).
    fn fail(mut self, why: &'static str) -> Self {
        self.broken = Some(why);
        self
    }

    /// The invariants of every state.
    fn violation(&self) -> Option<String> {
        if let Some(why) = self.broken {
            return Some(why.to_owned());
        }
        for (t, th) in self.threads.iter().enumerate() {
            if th.pc == Pc::Use {
                if !self.readable_by(t) {
                    return Some(format!("thread {t} holds a guard but cannot read the secret"));
                }
                if self.wiped {
                    return Some(format!("thread {t} holds a guard on wiped bytes"));
                }
            }
        }
        None
    }

    /// The invariants of a final state.
    fn final_violation(&self) -> Option<String> {
        if self.open != 0 || self.exclusive || self.reads != 0 || self.writes != 0 {
            return Some(format!(
                "counts left: open {} reads {} writes {}",
                self.open, self.reads, self.writes
            ));
        }
        // Keyed pages are read-write and closed by every thread's PKRU.
        let open = if self.tag == 0 {
            self.prot != Prot::None
        } else {
            self.threads.iter().any(|t| t.granted > 0)
        };
        if open {
            return Some(format!("region left open: {:?}, key {}", self.prot, self.tag));
        }
        if self.key != self.tag {
            return Some(format!(
                "the entry says key {}, the pages have key {}",
                self.key, self.tag
            ));
        }
        if self.poisoned != self.wiped {
            return Some(format!("poisoned {} but wiped {}", self.poisoned, self.wiped));
        }
        for (t, th) in self.threads.iter().enumerate() {
            match (th.role, th.answer) {
                (Role::Reader | Role::NestedReader, Answer::Pending) => {
                    return Some(format!("thread {t}'s open never answered"));
                }
                (_, Answer::CanaryCorrupted) => {
                    return Some(format!(
                        "thread {t}'s check found the region wiped and answered CanaryCorrupted, \
                         not Poisoned"
                    ));
                }
                _ => {}
            }
        }
        None
    }
}

/// What the explorer found.
#[derive(Debug, Default)]
struct Report {
    states: usize,
    /// Complete interleavings (maximal paths; spin loops block instead of
    /// looping, so the graph is acyclic).
    executions: u128,
    violation: Option<(String, Vec<(usize, Pc)>)>,
    /// The steps some thread was at in some state.
    reached: HashSet<Pc>,
    /// The answers of opens in final states.
    answers: HashSet<Answer>,
    /// Whether some read was counted in its thread alone (`nest`).
    nested: bool,
}

/// The states explored, each with the number of complete interleavings from
/// it, hashed with FNV-1a (cheaper than `SipHash` for these small keys).
type Paths = HashMap<State, u128, BuildHasherDefault<Fnv>>;

/// FNV-1a as a `Hasher`.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(FNV_OFFSET)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a_from(self.0, bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `dfs`'s mark of a state whose successors are being explored.
const ON_STACK: u128 = u128::MAX;

/// Every interleaving from `init`.
fn explore(init: &State) -> Report {
    let mut report = Report::default();
    let mut paths = Paths::default();
    let mut trace = Vec::new();
    report.executions = dfs(init, &mut paths, &mut trace, &mut report);
    report.states = paths.len();
    for s in paths.keys() {
        report.reached.extend(s.threads.iter().map(|t| t.pc));
        report.nested |= s.threads.iter().any(|t| t.nested > 0);
        if s.threads.iter().all(|t| t.pc == Pc::Done) {
            report.answers.extend(s.threads.iter().map(|t| t.answer));
        }
    }
    report
}

fn dfs(s: &State, paths: &mut Paths, trace: &mut Vec<(usize, Pc)>, report: &mut Report) -> u128 {
    if let Some(&n) = paths.get(s) {
        assert!(n != ON_STACK, "the model has a cycle");
        return n;
    }
    if report.violation.is_some() {
        return 0;
    }
    if let Some(why) = s.violation() {
        report.violation = Some((why, trace.clone()));
        return 0;
    }
    paths.insert(s.clone(), ON_STACK);
    let mut total = 0u128;
    let mut any = false;
    for t in 0..s.threads.len() {
        for next in s.step(t) {
            any = true;
            trace.push((t, s.threads[t].pc));
            total += dfs(&next, paths, trace, report);
            trace.pop();
        }
    }
    if !any {
        if s.threads.iter().any(|t| t.pc != Pc::Done) {
            report.violation.get_or_insert_with(|| ("deadlock".to_owned(), trace.clone()));
        } else if let Some(why) = s.final_violation() {
            report.violation.get_or_insert_with(|| (why, trace.clone()));
        }
        total = 1;
    }
    *paths.get_mut(s).expect("inserted above") = total;
    total
}

fn check(name: &str, init: &State) -> Report {
    let report = explore(init);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "{name}: {} states, {} interleavings, {} steps reached, violation: {:?}\n",
            report.states,
            report.executions,
            report.reached.len(),
            report.violation.as_ref().map(|v| &v.0)
        )
        .as_bytes(),
    );
    report
}

fn assert_clean(name: &str) -> Report {
    let report = check(name, &scenario(name));
    if let Some((why, trace)) = report.violation {
        panic!("{name}: {why}\ninterleaving (thread, step):\n{trace:?}");
    }
    assert!(report.executions > 1, "{name}: nothing explored");
    report
}

use Role::{Lockdown, NestedReader, Reader, Thief};

/// The configurations the tests explore, by name.
const SCENARIOS: &[&str] = &[
    "three readers, mprotect",
    "two readers + lockdown, mprotect",
    "reader + lockdown with one failing mprotect",
    "two readers + thief, keyed, reclaim",
    "two readers + lockdown, keyed",
    "reader + thief + lockdown, keyed",
    "two readers + thief, keyed (no reclaim)",
    "two readers, one failing re-seal",
    "two readers + thief, keyed, keys failing",
    "reader + thief + lockdown, keyed, keys failing",
    "nested reader + reader + lockdown, mprotect",
    "nested reader + reader, one failing re-seal",
    "nested reader + reader + lockdown, keyed",
];

fn scenario(name: &str) -> State {
    match name {
        "three readers, mprotect" => State::new(&[Reader, Reader, Reader], 0, false, 0),
        "two readers + lockdown, mprotect" => State::new(&[Reader, Reader, Lockdown], 0, false, 0),
        "reader + lockdown with one failing mprotect" => {
            // One reader's mprotect may fail where it opens; no close fails
            // (see `a_failed_reseal_never_wipes_under_another_threads_guard`).
            let mut init = State::new(&[Reader, Reader, Lockdown], 0, false, 1);
            init.closes_fail = false;
            init
        }
        "two readers + thief, keyed, reclaim" => State::new(&[Reader, Reader, Thief], 1, true, 0),
        "two readers + lockdown, keyed" => State::new(&[Reader, Reader, Lockdown], 1, true, 0),
        "reader + thief + lockdown, keyed" => State::new(&[Reader, Thief, Lockdown], 1, true, 0),
        "two readers + thief, keyed (no reclaim)" => {
            State::new(&[Reader, Reader, Thief], 1, false, 0)
        }
        "two readers, one failing re-seal" => State::new(&[Reader, Reader], 0, false, 1),
        "two readers + thief, keyed, keys failing" => {
            let mut init = State::new(&[Reader, Reader, Thief], 1, true, 1);
            init.key_failures = true;
            init
        }
        "reader + thief + lockdown, keyed, keys failing" => {
            let mut init = State::new(&[Reader, Thief, Lockdown], 1, true, 1);
            init.key_failures = true;
            init
        }
        "nested reader + reader + lockdown, mprotect" => {
            State::new(&[NestedReader, Reader, Lockdown], 0, false, 0)
        }
        "nested reader + reader, one failing re-seal" => {
            State::new(&[NestedReader, Reader], 0, false, 1)
        }
        "nested reader + reader + lockdown, keyed" => {
            State::new(&[NestedReader, Reader, Lockdown], 1, true, 0)
        }
        _ => panic!("no scenario {name:?}"),
    }
}

#[test]
fn three_readers_on_page_protection() {
    assert_clean("three readers, mprotect");
}

#[test]
fn readers_and_a_lockdown_on_page_protection() {
    assert_clean("two readers + lockdown, mprotect");
}

#[test]
fn one_failing_open_among_readers_and_a_lockdown() {
    assert_clean("reader + lockdown with one failing mprotect");
}

#[test]
fn readers_and_a_key_thief_under_virtualised_keys() {
    assert_clean("two readers + thief, keyed, reclaim");
}

#[test]
fn readers_and_a_lockdown_under_a_key() {
    assert_clean("two readers + lockdown, keyed");
}

/// Bug: `lockdown` counts a region whose maintenance lock is held as
/// "deferred" (`wipe_once` fails its `try_exclusive`), promising a wipe when
/// the last scope closes — but the holder may be `keys::steal` (or
/// `reclaim_key`) with no scope open. Found by this model (and fixed):
/// `unlock_exclusive` now wipes a poisoned region that no scope holds.
#[test]
fn a_lockdown_during_a_key_steal_still_wipes() {
    assert_clean("reader + thief + lockdown, keyed");
}

/// `steal` takes keys from virtualised regions only: under the fallback policy
/// the thief passes the region by.
#[test]
fn key_thief_against_readers_under_fallback() {
    assert_clean("two readers + thief, keyed (no reclaim)");
}

/// Found by this model (and fixed): `RegionScopes::reseal_failed` assumed "this
/// scope was the last one open", but `close_pages` drops the counts lock when its
/// `mprotect` fails, so another thread could open a read scope in between (no
/// syscall, the pages are still readable), pass its canary check and hold a
/// guard while the failing thread wiped and sealed the pages under it. It now
/// decides under the counts lock.
#[test]
fn a_failed_reseal_never_wipes_under_another_threads_guard() {
    assert_clean("two readers, one failing re-seal");
}

/// A scope admitted before another thread's refused re-seal wiped and poisoned
/// the region finds its canary gone: `check_failed` reads the poison before it
/// closes and answers `Poisoned` (the final check fails on a
/// `CanaryCorrupted`).
#[test]
fn a_check_that_finds_the_region_wiped_answers_poisoned() {
    let report = assert_clean("two readers, one failing re-seal");
    assert!(report.reached.contains(&Pc::CheckFailed), "no check found the region wiped");
    assert!(report.answers.contains(&Answer::Poisoned), "no open answered Poisoned");
}

/// Keys that cannot be had (`obtain` finds none, or fails), a steal whose seal
/// is refused, a revocation round that fails and gives the key back: readers
/// wait, retry, answer `KeysExhausted` or the error, and never open the
/// region with page protection.
#[test]
fn keys_that_cannot_be_had_or_revoked() {
    let report = assert_clean("two readers + thief, keyed, keys failing");
    assert!(report.answers.contains(&Answer::KeysExhausted), "no open ran out of keys");
    assert_clean("reader + thief + lockdown, keyed, keys failing");
}

/// A read nested on the thread's own counted read under page protection
/// (`nest`) counts nothing shared: the pages must stay readable, and the
/// region unwiped, for as long as it is open, whichever of the thread's reads
/// closes first, beside a lockdown or another thread's failing re-seal. Under
/// a key nothing nests this way (the keyed path is unchanged).
#[test]
fn a_nested_read_under_page_protection_counts_in_the_thread() {
    let report = assert_clean("nested reader + reader + lockdown, mprotect");
    assert!(report.nested, "no read nested");
    assert!(report.answers.contains(&Answer::Poisoned), "no open answered Poisoned");
    assert!(assert_clean("nested reader + reader, one failing re-seal").nested);
    assert!(!assert_clean("nested reader + reader + lockdown, keyed").nested);
}

#[test]
fn the_explorer_finds_a_broken_protocol() {
    // A thief that skips the open check and the maintenance lock must be
    // caught stealing the key from under a reader's guard.
    let mut init = State::new(&[Reader, Thief], 1, false, 0);
    init.threads[1].pc = Pc::StealSeal;
    let report = check("thief without the maintenance lock", &init);
    let (why, _) = report.violation.expect("the explorer missed a key stolen from under a guard");
    assert!(
        why.contains("cannot read the secret") || why.contains("key changed under an open scope"),
        "found another violation: {why}"
    );
}

/// Every step is reached by some scenario: a step no scenario reaches checks
/// nothing.
#[test]
fn every_step_is_reached() {
    let mut reached = HashSet::new();
    for name in SCENARIOS {
        reached.extend(assert_clean(name).reached);
    }
    let missed: Vec<Pc> = Pc::ALL.iter().copied().filter(|pc| !reached.contains(pc)).collect();
    assert!(missed.is_empty(), "no scenario reaches these steps: {missed:?}");
}

// --- The source the model mirrors (see the module docs).

/// One source function the model mirrors.
struct Mirrored {
    /// How the steps name it (`Pc::mirrors`): `module::function` or
    /// `Type::method`.
    name: &'static str,
    /// Its file in `siegel/src/`.
    file: &'static str,
    /// The block it is defined in (`impl Entry`), or "" at the top level.
    within: &'static str,
    /// The fingerprint of its code when the model was last brought in line
    /// with it.
    fingerprint: u64,
}

const fn mirrored(
    name: &'static str,
    file: &'static str,
    within: &'static str,
    fingerprint: u64,
) -> Mirrored {
    Mirrored { name, file, within, fingerprint }
}

/// Every function the steps mirror, with the fingerprint of its code. A
/// change to one of them fails `the_model_matches_the_source`: re-read the
/// function, update the model's steps for it, then update its fingerprint
/// here.
const MIRRORED: &[Mirrored] = &[
    // scope.rs
    mirrored("scope::open_fast", "scope.rs", "", 0x4a26_6051_11d0_a48a),
    mirrored("scope::finish_fast", "scope.rs", "", 0xc9c5_f426_50cf_ef0c),
    mirrored("scope::open_fast_pages", "scope.rs", "", 0x0ea5_e0f6_30bd_81f4),
    mirrored("scope::open_nested_pages", "scope.rs", "", 0xf548_3dd3_4a1a_617b),
    mirrored("scope::closed_nested", "scope.rs", "", 0x116b_1548_4ae3_9d74),
    mirrored("scope::counted_pages", "scope.rs", "", 0x3ea5_907e_bc00_fefb),
    mirrored("nest::any", "nest.rs", "", 0xdec3_18b6_2d66_8b0f),
    mirrored("nest::open_nested", "nest.rs", "", 0x1f6e_3423_96be_3d2b),
    mirrored("nest::close_read", "nest.rs", "", 0xb229_0f3a_6cde_763d),
    mirrored("nest::counted", "nest.rs", "", 0x0f0d_0308_1f3f_73d0),
    mirrored("scope::checked_fast", "scope.rs", "", 0x3581_04e0_a269_084a),
    mirrored("scope::give_back", "scope.rs", "", 0x474e_35b4_4e19_1d04),
    mirrored("scope::open", "scope.rs", "", 0x0327_ec6d_c9f7_370d),
    mirrored("scope::open_keyed", "scope.rs", "", 0x39b7_5d30_76c3_c3c6),
    mirrored("scope::finished_and_checked", "scope.rs", "", 0x5210_87a0_3dc4_2223),
    mirrored("scope::checked", "scope.rs", "", 0x8892_dcd3_47b4_39d5),
    mirrored("scope::check_failed", "scope.rs", "", 0x057a_ded4_30e8_2314),
    mirrored("scope::open_slow", "scope.rs", "", 0xeed6_d6c4_b02b_aae4),
    mirrored("scope::try_close", "scope.rs", "", 0x8d8d_b4bd_c637_5672),
    mirrored("scope::close_keyed", "scope.rs", "", 0x75c9_8a69_df39_b4e5),
    mirrored("scope::finish_close_keyed", "scope.rs", "", 0xeea2_2dd2_859b_aab8),
    mirrored("scope::close", "scope.rs", "", 0x71d0_483c_b0ad_cd32),
    mirrored("scope::close_own", "scope.rs", "", 0x0a80_e386_6678_942c),
    mirrored("scope::close_counted", "scope.rs", "", 0x8ea6_99ae_be18_fa55),
    mirrored("scope::close_read_keyed", "scope.rs", "", 0xa34d_cefd_b011_8114),
    mirrored("scope::close_read_unkeyed", "scope.rs", "", 0xd2f2_3ebd_e3e6_a393),
    mirrored("scope::close_unkeyed", "scope.rs", "", 0x930f_8820_22fb_4124),
    mirrored("scope::close_pages_counted", "scope.rs", "", 0x6d8d_edbc_dc12_47da),
    mirrored("scope::close_failed", "scope.rs", "", 0x912d_d8ef_7aa7_e664),
    mirrored("scope::admit_with_key", "scope.rs", "", 0x82f3_c89a_85e9_7dde),
    mirrored("scope::wait_for_key", "scope.rs", "", 0x405b_39fb_519e_b2ef),
    mirrored("scope::admit", "scope.rs", "", 0xd3b4_e35f_92ed_7aaf),
    mirrored("scope::poisoned", "scope.rs", "", 0xdd63_50ba_d6ac_878a),
    mirrored("scope::reclaim_key", "scope.rs", "", 0x9166_a28b_6130_6ec1),
    // registry.rs
    mirrored("Seal::key", "registry.rs", "impl Seal", 0x029f_fc44_0baf_1552),
    mirrored("Seal::live_key", "registry.rs", "impl Seal", 0x4402_504b_4520_e534),
    mirrored("Seal::is_keyed_and_live", "registry.rs", "impl Seal", 0xa6b7_3dfb_d7fe_7e6b),
    mirrored("Seal::is_unkeyed_and_live", "registry.rs", "impl Seal", 0xe665_da35_71bd_53a7),
    mirrored("Seal::is_poisoned", "registry.rs", "impl Seal", 0x32e3_7798_a234_ef82),
    mirrored("Seal::needs_key", "registry.rs", "impl Seal", 0xaaeb_b89c_2e47_0d0f),
    mirrored("Entry::seal", "registry.rs", "impl Entry", 0xe0ea_176e_9280_65de),
    mirrored("Entry::key", "registry.rs", "impl Entry", 0x992f_15fb_fefc_39c8),
    mirrored("Entry::set_key", "registry.rs", "impl Entry", 0xca19_1fe8_b480_0fec),
    mirrored("Entry::is_poisoned", "registry.rs", "impl Entry", 0x79cf_4a42_04e9_fbbe),
    mirrored("Entry::poison", "registry.rs", "impl Entry", 0xa423_b8d0_62d5_1dfd),
    mirrored("Entry::is_virtualised", "registry.rs", "impl Entry", 0xeb2d_5efd_e5d5_1e98),
    mirrored("Entry::needs_key", "registry.rs", "impl Entry", 0x6095_935a_0024_fd28),
    mirrored("Entry::is_open", "registry.rs", "impl Entry", 0x50ff_45b1_c34b_2db1),
    mirrored("Entry::page_counts", "registry.rs", "impl Entry", 0x0737_34ca_fa95_5ebf),
    mirrored("Entry::change_page_counts", "registry.rs", "impl Entry", 0x77e2_b6c7_365c_c9dc),
    mirrored("Entry::try_share", "registry.rs", "impl Entry", 0x2b54_21cf_5ec5_cc55),
    mirrored("Entry::try_unshare", "registry.rs", "impl Entry", 0x2a53_8cb2_0156_096e),
    mirrored("Entry::add_page_count", "registry.rs", "impl Entry", 0xaff7_d395_a278_a953),
    mirrored("Entry::sub_page_count", "registry.rs", "impl Entry", 0xa309_2952_46b5_f9bc),
    mirrored("Entry::count", "registry.rs", "impl Entry", 0x8ce2_aec3_882b_44ff),
    mirrored("Entry::try_enter", "registry.rs", "impl Entry", 0xcc3b_bb74_e0ea_6aeb),
    mirrored("Entry::enter", "registry.rs", "impl Entry", 0xd58b_7a6a_c9fe_bab9),
    mirrored("Entry::wait_out_maintenance", "registry.rs", "impl Entry", 0x402d_b441_a2ae_919d),
    mirrored("Entry::leave", "registry.rs", "impl Entry", 0x2313_543f_f6c3_7b50),
    mirrored("Entry::try_exclusive", "registry.rs", "impl Entry", 0x7bb1_754d_419a_d92e),
    mirrored("Entry::unlock_exclusive", "registry.rs", "impl Entry", 0xde0d_95ab_2809_1773),
    mirrored("Entry::wipe_once", "registry.rs", "impl Entry", 0x1ed3_4f2c_5fb8_4141),
    mirrored("Entry::wipe_exclusive", "registry.rs", "impl Entry", 0xf641_fd55_7b1f_5ccb),
    mirrored("Entry::wipe_exclusive_at", "registry.rs", "impl Entry", 0x5b5e_fcff_2c86_8660),
    mirrored("registry::lockdown", "registry.rs", "", 0x8ca8_8f08_7959_d4a9),
    // region.rs
    mirrored("RegionScopes::set_pages", "region.rs", "impl RegionScopes", 0xcdb1_6b5d_574f_0a71),
    mirrored(
        "RegionScopes::after_write",
        "region.rs",
        "impl Scoped for RegionScopes",
        0x8e18_0e00_170f_beee,
    ),
    mirrored(
        "RegionScopes::open_pages",
        "region.rs",
        "impl Scoped for RegionScopes",
        0x6666_b944_dab9_fac4,
    ),
    mirrored(
        "RegionScopes::close_pages",
        "region.rs",
        "impl Scoped for RegionScopes",
        0x15b1_c09f_8028_a988,
    ),
    mirrored(
        "RegionScopes::check",
        "region.rs",
        "impl Scoped for RegionScopes",
        0x9eae_0c72_2426_2b89,
    ),
    mirrored(
        "RegionScopes::share",
        "region.rs",
        "impl Scoped for RegionScopes",
        0x81b8_9f98_373d_426a,
    ),
    mirrored(
        "RegionScopes::unshare",
        "region.rs",
        "impl Scoped for RegionScopes",
        0x7b73_4f1e_4e1f_341a,
    ),
    mirrored(
        "RegionScopes::intact",
        "region.rs",
        "impl Scoped for RegionScopes",
        0xd20c_93e5_7025_13a2,
    ),
    mirrored(
        "RegionScopes::reseal_failed",
        "region.rs",
        "impl Scoped for RegionScopes",
        0x0bf3_21ea_da93_c658,
    ),
    // keys.rs
    mirrored("keys::obtain", "keys.rs", "", 0xb02f_6de5_330e_4b52),
    mirrored("keys::steal", "keys.rs", "", 0x7064_a9a3_2cf7_930d),
    // pkru.rs
    mirrored("pkru::open", "pkru.rs", "", 0x5827_6ba2_224e_47c6),
    mirrored("pkru::close", "pkru.rs", "", 0xbabe_ebef_9765_2117),
    mirrored("pkru::close_own", "pkru.rs", "", 0x8292_9bc5_b512_fe58),
    mirrored("pkru::finish_open", "pkru.rs", "", 0x216c_2ef3_ba7b_e141),
    mirrored("pkru::finish_close", "pkru.rs", "", 0xbc21_d41f_81a0_dab5),
];

/// The source files the model mirrors, as compiled into this test: a change to
/// one rebuilds it.
fn source_file(file: &str) -> &'static str {
    match file {
        "scope.rs" => include_str!("../siegel/src/scope.rs"),
        "registry.rs" => include_str!("../siegel/src/registry.rs"),
        "region.rs" => include_str!("../siegel/src/region.rs"),
        "keys.rs" => include_str!("../siegel/src/keys.rs"),
        "pkru.rs" => include_str!("../siegel/src/pkru.rs"),
        "nest.rs" => include_str!("../siegel/src/nest.rs"),
        _ => panic!("no source file {file} here: add it to `source_file`"),
    }
}

/// Braces inside string and character literals, masked so that brace matching
/// skips them.
const OPEN_IN_LITERAL: char = '\u{1}';
const CLOSE_IN_LITERAL: char = '\u{2}';

fn mask(c: char) -> char {
    match c {
        '{' => OPEN_IN_LITERAL,
        '}' => CLOSE_IN_LITERAL,
        c => c,
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Rust source as the compiler reads it, in a canonical spelling: no comments
/// (doc comments included), a space only between two words, no comma before a
/// closing bracket (rustfmt adds them to vertical lists), braces in literals
/// masked. Formatting and comments then leave a fingerprint as it was. Raw
/// string literals are not recognised (the mirrored files have none).
fn normalise(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut out = String::new();
    let (mut i, mut space, mut comma) = (0, false, false);
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            space = true;
            continue;
        }
        if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else if i >= c.len() {
                    break;
                } else {
                    i += 1;
                }
            }
            space = true;
            continue;
        }
        if std::mem::take(&mut comma) && !matches!(ch, ')' | ']' | '}') {
            out.push(',');
        }
        if std::mem::take(&mut space) && out.ends_with(is_word) && is_word(ch) {
            out.push(' ');
        }
        match ch {
            ',' => {
                comma = true;
                i += 1;
            }
            '"' => {
                // A string literal, escapes included, verbatim.
                out.push('"');
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        out.push('\\');
                        i += 1;
                    }
                    out.push(mask(at(i)));
                    i += 1;
                }
                out.push('"');
                i += 1;
            }
            '\'' if at(i + 1) == '\\' => {
                // An escaped character literal: '\n', '\'', '\u{7f}'.
                out.extend([ch, '\\', mask(at(i + 2))]);
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    out.push(mask(c[i]));
                    i += 1;
                }
                out.push('\'');
                i += 1;
            }
            '\'' if at(i + 2) == '\'' => {
                // A character literal ('{'); else a lifetime ('a, 'static).
                out.extend([ch, mask(at(i + 1)), '\'']);
                i += 3;
            }
            _ => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// Where `needle` starts in `hay` (normalised), if it is there exactly once at
/// the start of a word.
fn find_once(hay: &str, needle: &str) -> Result<usize, String> {
    let found: Vec<usize> = hay
        .match_indices(needle)
        .map(|(at, _)| at)
        .filter(|&at| !hay[..at].ends_with(is_word))
        .collect();
    match found[..] {
        [at] => Ok(at),
        [] => Err(format!("`{needle}` not found")),
        _ => Err(format!("`{needle}` found {} times", found.len())),
    }
}

/// The text from `from` through the end of the first block that opens after it
/// (or an error if a `;` ends the item first: a declaration without a body).
fn through_block(text: &str, from: usize) -> Result<&str, String> {
    let rest = &text[from..];
    let open = rest.find(['{', ';']).filter(|&at| rest[at..].starts_with('{'));
    let open = open.ok_or_else(|| "no body".to_owned())?;
    let mut depth = 0usize;
    for (at, ch) in rest[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(&rest[..=open + at]);
                }
            }
            _ => {}
        }
    }
    Err("unbalanced braces".to_owned())
}

/// The code of `fn name` in `within` (a block such as `impl Entry`, or "" for
/// the whole file) of `source`, normalised.
fn function_code(source: &str, within: &str, name: &str) -> Result<String, String> {
    let text = normalise(source);
    let block = if within.is_empty() {
        &text[..]
    } else {
        let header = normalise(within) + "{";
        through_block(&text, find_once(&text, &header)?)?
    };
    let by_params = find_once(block, &format!("fn {name}("));
    let by_generics = find_once(block, &format!("fn {name}<"));
    let start = by_params.or(by_generics).map_err(|_| format!("no single `fn {name}`"))?;
    Ok(through_block(block, start)?.to_owned())
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_from(FNV_OFFSET, bytes)
}

/// FNV-1a, 64 bits, going on from `hash`.
fn fnv1a_from(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The fingerprint of `m`'s code. With `SIEGEL_SCOPE_MODEL_SHOW` set to its
/// name (or `all`), also prints the code as fingerprinted.
fn fingerprint(m: &Mirrored) -> Result<u64, String> {
    let name = m.name.rsplit("::").next().unwrap_or(m.name);
    let code = function_code(source_file(m.file), m.within, name)?;
    if std::env::var("SIEGEL_SCOPE_MODEL_SHOW").is_ok_and(|show| show == m.name || show == "all") {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("{}: {code}\n", m.name).as_bytes(),
        );
    }
    Ok(fnv1a(code.as_bytes()))
}

/// The model cannot drift from the source unnoticed: every function a step
/// mirrors still has the code the model was written against.
#[test]
fn the_model_matches_the_source() {
    let mut problems = Vec::new();
    for &pc in Pc::ALL {
        for name in pc.mirrors() {
            if !MIRRORED.iter().any(|m| m.name == *name) {
                problems.push(format!("step {pc:?} names `{name}`, which MIRRORED does not list"));
            }
        }
    }
    for m in MIRRORED {
        let steps: Vec<Pc> =
            Pc::ALL.iter().copied().filter(|pc| pc.mirrors().contains(&m.name)).collect();
        if steps.is_empty() {
            problems.push(format!("`{}` is in MIRRORED, but no step names it", m.name));
        }
        let place = if m.within.is_empty() {
            format!("siegel/src/{}", m.file)
        } else {
            format!("siegel/src/{} (`{}`)", m.file, m.within)
        };
        match fingerprint(m) {
            Err(why) => problems.push(format!(
                "`{}` in {place}: {why} (renamed, moved or removed?); mirrored by steps \
                 {steps:?}",
                m.name
            )),
            Ok(now) if now != m.fingerprint => problems.push(format!(
                "`{}` in {place} changed: fingerprint now {now:#018x} (the model was written \
                 against {:#018x}); mirrored by steps {steps:?}",
                m.name, m.fingerprint
            )),
            Ok(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "the scope model (tests/scope_model.rs) is out of step with the source it mirrors:\n  \
         {}\nFor each function: re-read this function, update the model's steps for it, then \
         update the fingerprint in MIRRORED.",
        problems.join("\n  ")
    );
}

#[test]
fn fingerprints_ignore_comments_and_formatting_but_not_code() {
    let code = |text: &str| function_code(text, "", "f").expect("found");
    let plain = code("fn f(x: u8) -> u8 { if x > 1 { g(x, \"}\") } else { 0 } }");
    let formatted = code(
        "/// Docs.\nfn f(\n    x: u8, // the input\n) -> u8 {\n    /* a /* nested */ note */\n    \
         if x > 1 {\n        g(\n            x,\n            \"}\",\n        )\n    } else {\n        \
         0\n    }\n}\nfn after() {}",
    );
    assert_eq!(plain, formatted);
    assert_ne!(plain, code("fn f(x: u8) -> u8 { if x >= 1 { g(x, \"}\") } else { 0 } }"));
    let block = function_code(
        "impl A { fn f(&self) { a() } }\nimpl B { fn f(&self) { b('{') } }",
        "impl B",
        "f",
    );
    assert_eq!(block.expect("found"), "fn f(&self){b('\u{1}')}");
    assert!(function_code("trait T { fn f(&self); }", "trait T", "f").is_err());
    // The same on the real source: a comment and a blank line in `scope::open`
    // leave its fingerprint, one more statement changes it.
    let real = source_file("scope.rs");
    let body = real.find("fn open(").and_then(|at| real[at..].find('{').map(|b| at + b + 1));
    let body = body.expect("scope::open has a body");
    let with = |insert: &str| format!("{}{insert}{}", &real[..body], &real[body..]);
    let open = |source: &str| function_code(source, "", "open").expect("found");
    assert_eq!(open(real), open(&with("\n    // A note.\n\n")));
    assert_ne!(open(real), open(&with("let _ = 0;")));
}
