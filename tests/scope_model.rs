//! The scope protocol checked exhaustively: a deterministic interleaving
//! explorer over a step-for-step model of `siegel/src/scope.rs` (`open`,
//! `try_close`, `close`, `admit`, `reclaim_key`), `registry.rs`
//! (`Entry::{enter, leave, try_exclusive, unlock_exclusive, wipe_once,
//! wipe_exclusive}`, `lockdown`), `region.rs` (`Dedicated::{open_pages,
//! close_pages, check, reseal_failed}`) and `keys.rs::steal`.
//!
//! Why not `loom`: the real code would need `cfg(loom)` atomics and mutexes in
//! the registry and the scope protocol (the hot path), and its system calls
//! and page protection cannot run under loom anyway. The model instead keeps
//! one atomic operation, lock operation or system call per step, exactly in
//! the order of the source, and the explorer runs every interleaving of the
//! threads (depth-first, with a visited set), plus every placement of one
//! failing `mprotect` where a configuration allows it (what the fault
//! injection sweep injects). At every state it checks:
//!
//! - a thread holding a reference into the secret (between a passed canary
//!   check and its guard's drop) can read it: the pages or its key allow it,
//!   and the bytes are not wiped;
//! - at the end: no scope counted, the pages sealed (`PROT_NONE`, or the key
//!   closed), a poisoned region wiped, an unpoisoned one intact.

#![allow(
    clippy::struct_excessive_bools,
    reason = "the model mirrors the entry's atomic flags one to one"
)]

use std::collections::{HashMap, HashSet};

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
    /// `Protected::read` on the region, then the guard's drop.
    Reader,
    /// `lockdown()`.
    Lockdown,
    /// A new region's `keys::obtain` finding every key taken: `steal`.
    Thief,
}

/// Where a thread is; each variant is one step of the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pc {
    // scope::admit
    AdmitPoisoned,
    WantsKeyBack,
    ReclaimTryExclusive,
    ReclaimObtain,
    ReclaimUnlock,
    Enter,
    AdmitPoisonedAgain,
    // scope::open
    ReadKey,
    OpenPagesLock,
    OpenPagesProtect,
    OpenPagesStore,
    Check,
    /// The guard is live: the thread may read the secret.
    Use,
    // scope::try_close
    ClosePagesLock,
    ClosePagesProtect,
    ClosePagesStore,
    KeyedClose,
    Leave,
    // Dedicated::reseal_failed
    ResealPoison,
    ResealWiden,
    ResealWipe,
    ResealSeal,
    ResealCountsLock,
    ResealLeave,
    // Entry::wipe_once / wipe_exclusive (from leave or lockdown)
    WipeOnceCheck,
    WipeTryExclusive,
    WipeMark,
    WipeLock,
    WipeDo,
    WipeUnlockExclusive,
    // lockdown
    LockdownPoison,
    // keys::steal
    StealIsOpen,
    StealTryExclusive,
    StealSeal,
    StealSetKey,
    StealUnlock,
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Thread {
    role: Role,
    pc: Pc,
    /// `open_pages`/`close_pages`: the counts computed before the syscall.
    next: (u8, u8),
    /// This thread's PKRU grants the region's key.
    granted: bool,
    /// The key this scope opened under (0: page protection).
    key: u8,
    /// Where `wipe_once` returns to.
    after_wipe: Pc,
}

/// One region under the protocol, and the threads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    // registry::Entry
    open: u8,
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
    tag: u8,
    wiped: bool,
    /// `mprotect` failures still to inject.
    failures: u8,
    /// Whether a re-seal (a close's `mprotect`) may fail, or only opens.
    closes_fail: bool,
    threads: Vec<Thread>,
    /// A step found the protocol broken (a fault).
    broken: Option<&'static str>,
}

const NOT_WIPED: u8 = 0;
const WIPING: u8 = 1;
const WIPED: u8 = 2;

impl State {
    fn new(roles: &[Role], key: u8, wants_key: bool, failures: u8) -> Self {
        let threads = roles
            .iter()
            .map(|&role| Thread {
                role,
                pc: match role {
                    Role::Reader => Pc::AdmitPoisoned,
                    Role::Lockdown => Pc::LockdownPoison,
                    Role::Thief => Pc::StealIsOpen,
                },
                next: (0, 0),
                granted: false,
                key: 0,
                after_wipe: Pc::Done,
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
            threads,
            broken: None,
        }
    }

    /// Whether thread `t` can read the secret now (its key or the pages).
    fn readable_by(&self, t: usize) -> bool {
        if self.tag != 0 {
            self.threads[t].granted && self.threads[t].key == self.tag
        } else {
            self.prot != Prot::None
        }
    }

    /// The states thread `t` can reach in one step (empty: done or blocked).
    #[allow(clippy::too_many_lines, reason = "one arm per step of the source")]
    fn step(&self, t: usize) -> Vec<Self> {
        let mut s = self.clone();
        let me = u8::try_from(t).expect("few threads");
        let th = self.threads[t].clone();
        let goto = |s: &mut Self, pc: Pc| s.threads[t].pc = pc;
        match th.pc {
            Pc::Done => return vec![],
            // --- scope::admit
            Pc::AdmitPoisoned => {
                let pc = if s.poisoned { Pc::Done } else { Pc::WantsKeyBack };
                goto(&mut s, pc);
            }
            Pc::WantsKeyBack => {
                let pc =
                    if s.key == 0 && s.wants_key { Pc::ReclaimTryExclusive } else { Pc::Enter };
                goto(&mut s, pc);
            }
            Pc::ReclaimTryExclusive => {
                if s.open == 0 && !s.exclusive {
                    s.exclusive = true;
                    goto(&mut s, Pc::ReclaimObtain);
                } else {
                    goto(&mut s, Pc::Enter);
                }
            }
            Pc::ReclaimObtain => {
                // keys::obtain: a key (pkey_alloc or another region's), revoked
                // everywhere, then pkey_mprotect(RW, key); set_key.
                s.tag = 2;
                s.prot = Prot::ReadWrite;
                s.key = 2;
                goto(&mut s, Pc::ReclaimUnlock);
            }
            Pc::ReclaimUnlock => {
                // `unlock_exclusive`: a lockdown deferred meanwhile wipes now.
                s.exclusive = false;
                if s.open == 0 && s.poisoned {
                    s.threads[t].after_wipe = Pc::Enter;
                    goto(&mut s, Pc::WipeOnceCheck);
                } else {
                    goto(&mut s, Pc::Enter);
                }
            }
            Pc::Enter => {
                // fetch_add; at EXCLUSIVE: fetch_sub and yield (blocked here).
                if s.exclusive {
                    return vec![];
                }
                s.open += 1;
                goto(&mut s, Pc::AdmitPoisonedAgain);
            }
            Pc::AdmitPoisonedAgain => {
                if s.poisoned {
                    s.threads[t].after_wipe = Pc::Done;
                    goto(&mut s, Pc::Leave);
                } else {
                    goto(&mut s, Pc::ReadKey);
                }
            }
            // --- scope::open
            Pc::ReadKey => {
                s.threads[t].key = s.key;
                if s.key == 0 && s.wants_key {
                    // KeysExhausted
                    goto(&mut s, Pc::Leave);
                } else if s.key == 0 {
                    goto(&mut s, Pc::OpenPagesLock);
                } else {
                    // touch; pkru::update(key, add)
                    s.threads[t].granted = true;
                    goto(&mut s, Pc::Check);
                }
            }
            Pc::OpenPagesLock => {
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
                    // Failed: nothing changed; unlock, leave, return the error.
                    s.failures -= 1;
                    s.counts_lock = None;
                    goto(&mut s, Pc::Leave);
                    out.push(s);
                }
                return out;
            }
            Pc::OpenPagesStore => {
                (s.reads, s.writes) = th.next;
                s.counts_lock = None;
                goto(&mut s, Pc::Check);
            }
            Pc::Check => {
                if !s.readable_by(t) {
                    return vec![s.fail("the canary check faults: the pages are not readable")];
                }
                if s.wiped {
                    // CanaryCorrupted: close again.
                    let pc = if th.key == 0 { Pc::ClosePagesLock } else { Pc::KeyedClose };
                    goto(&mut s, pc);
                } else {
                    goto(&mut s, Pc::Use);
                }
            }
            Pc::Use => {
                // The guard drops: try_close.
                let pc = if th.key == 0 { Pc::ClosePagesLock } else { Pc::KeyedClose };
                goto(&mut s, pc);
            }
            // --- scope::try_close
            Pc::KeyedClose => {
                s.threads[t].granted = false;
                s.threads[t].after_wipe = Pc::Done;
                goto(&mut s, Pc::Leave);
            }
            Pc::ClosePagesLock => {
                if s.counts_lock.is_some() {
                    return vec![];
                }
                s.counts_lock = Some(me);
                s.threads[t].next = (s.reads.saturating_sub(1), s.writes);
                goto(&mut s, Pc::ClosePagesProtect);
            }
            Pc::ClosePagesProtect => {
                let (r, w) = th.next;
                let want = prot_for(r, w);
                if want == prot_for(s.reads, s.writes) {
                    goto(&mut s, Pc::ClosePagesStore);
                    return vec![s];
                }
                let mut ok = s.clone();
                ok.prot = want;
                ok.threads[t].pc = Pc::ClosePagesStore;
                let mut out = vec![ok];
                if s.failures > 0 && s.closes_fail {
                    // The re-seal failed: `close_pages` returns the error and its
                    // counts lock is released; `close` calls `reseal_failed`,
                    // which takes the lock again and decides under it.
                    s.failures -= 1;
                    s.counts_lock = None;
                    goto(&mut s, Pc::ResealCountsLock);
                    out.push(s);
                }
                return out;
            }
            Pc::ClosePagesStore => {
                (s.reads, s.writes) = th.next;
                s.counts_lock = None;
                s.threads[t].after_wipe = Pc::Done;
                goto(&mut s, Pc::Leave);
            }
            Pc::Leave => {
                let was = s.open;
                s.open -= 1;
                if was == 1 && s.poisoned {
                    goto(&mut s, Pc::WipeOnceCheck);
                } else {
                    let pc = s.threads[t].after_wipe;
                    goto(&mut s, pc);
                }
            }
            // --- Dedicated::reseal_failed: under the counts lock, give this
            // scope back; only if it was the last one, poison, wipe and seal.
            Pc::ResealCountsLock => {
                if s.counts_lock.is_some() {
                    return vec![];
                }
                s.counts_lock = Some(me);
                let next = (s.reads.saturating_sub(1), s.writes);
                if next == (0, 0) {
                    goto(&mut s, Pc::ResealPoison);
                } else {
                    (s.reads, s.writes) = next;
                    s.counts_lock = None;
                    goto(&mut s, Pc::ResealLeave);
                }
            }
            Pc::ResealPoison => {
                s.poisoned = true;
                goto(&mut s, Pc::ResealWiden);
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
                (s.reads, s.writes) = (0, 0);
                s.counts_lock = None;
                goto(&mut s, Pc::ResealLeave);
            }
            Pc::ResealLeave => {
                s.threads[t].after_wipe = Pc::Done;
                goto(&mut s, Pc::Leave);
            }
            // --- Entry::wipe_once / wipe_exclusive
            Pc::WipeOnceCheck => {
                if s.wipe == WIPED {
                    let pc = th.after_wipe;
                    goto(&mut s, pc);
                } else {
                    goto(&mut s, Pc::WipeTryExclusive);
                }
            }
            Pc::WipeTryExclusive => {
                if s.open == 0 && !s.exclusive {
                    s.exclusive = true;
                    goto(&mut s, Pc::WipeMark);
                } else {
                    let pc = th.after_wipe;
                    goto(&mut s, pc);
                }
            }
            Pc::WipeMark => {
                if s.wipe == NOT_WIPED {
                    s.wipe = WIPING;
                    let pc = if s.key == 0 { Pc::WipeLock } else { Pc::WipeDo };
                    goto(&mut s, pc);
                } else {
                    goto(&mut s, Pc::WipeUnlockExclusive);
                }
            }
            Pc::WipeLock => {
                if s.counts_lock.is_some() {
                    return vec![];
                }
                s.counts_lock = Some(me);
                goto(&mut s, Pc::WipeDo);
            }
            Pc::WipeDo => {
                // Page protection: open for writing → direct; else through
                // /proc/self/mem. Keyed: with_write_access. Never opens the
                // pages to another thread.
                s.wiped = true;
                if s.counts_lock == Some(me) {
                    s.counts_lock = None;
                }
                s.wipe = WIPED;
                goto(&mut s, Pc::WipeUnlockExclusive);
            }
            Pc::WipeUnlockExclusive => {
                s.exclusive = false;
                let pc = th.after_wipe;
                goto(&mut s, pc);
            }
            // --- lockdown
            Pc::LockdownPoison => {
                s.poisoned = true;
                s.threads[t].after_wipe = Pc::Done;
                goto(&mut s, Pc::WipeOnceCheck);
            }
            // --- keys::steal (the region is the only candidate victim)
            Pc::StealIsOpen => {
                let pc = if s.key == 0 || s.open != 0 { Pc::Done } else { Pc::StealTryExclusive };
                goto(&mut s, pc);
            }
            Pc::StealTryExclusive => {
                if s.open == 0 && !s.exclusive {
                    s.exclusive = true;
                    goto(&mut s, Pc::StealSeal);
                } else {
                    goto(&mut s, Pc::Done);
                }
            }
            Pc::StealSeal => {
                // pkey_mprotect(NONE, 0)
                s.tag = 0;
                s.prot = Prot::None;
                goto(&mut s, Pc::StealSetKey);
            }
            Pc::StealSetKey => {
                s.key = 0;
                goto(&mut s, Pc::StealUnlock);
            }
            Pc::StealUnlock => {
                // `unlock_exclusive`: a lockdown deferred meanwhile wipes now.
                s.exclusive = false;
                if s.open == 0 && s.poisoned {
                    s.threads[t].after_wipe = Pc::Done;
                    goto(&mut s, Pc::WipeOnceCheck);
                } else {
                    goto(&mut s, Pc::Done);
                }
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
            self.threads.iter().any(|t| t.granted)
        };
        if open {
            return Some(format!("region left open: {:?}, key {}", self.prot, self.tag));
        }
        if self.poisoned != self.wiped {
            return Some(format!("poisoned {} but wiped {}", self.poisoned, self.wiped));
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
}

/// Every interleaving from `init`.
fn explore(init: &State) -> Report {
    let mut report = Report::default();
    let mut paths: HashMap<State, u128> = HashMap::new();
    let mut trace = Vec::new();
    let mut on_stack = HashSet::new();
    report.executions = dfs(init, &mut paths, &mut on_stack, &mut trace, &mut report);
    report.states = paths.len();
    report
}

fn dfs(
    s: &State,
    paths: &mut HashMap<State, u128>,
    on_stack: &mut HashSet<State>,
    trace: &mut Vec<(usize, Pc)>,
    report: &mut Report,
) -> u128 {
    if let Some(&n) = paths.get(s) {
        return n;
    }
    if report.violation.is_some() {
        return 0;
    }
    if let Some(why) = s.violation() {
        report.violation = Some((why, trace.clone()));
        return 0;
    }
    assert!(on_stack.insert(s.clone()), "the model has a cycle");
    let mut total = 0u128;
    let mut any = false;
    for t in 0..s.threads.len() {
        for next in s.step(t) {
            any = true;
            trace.push((t, s.threads[t].pc));
            total += dfs(&next, paths, on_stack, trace, report);
            trace.pop();
        }
    }
    on_stack.remove(s);
    if !any {
        if s.threads.iter().any(|t| t.pc != Pc::Done) {
            report.violation.get_or_insert_with(|| ("deadlock".to_owned(), trace.clone()));
        } else if let Some(why) = s.final_violation() {
            report.violation.get_or_insert_with(|| (why, trace.clone()));
        }
        total = 1;
    }
    paths.insert(s.clone(), total);
    total
}

fn check(name: &str, init: &State) -> Report {
    let report = explore(init);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "{name}: {} states, {} interleavings, violation: {:?}\n",
            report.states,
            report.executions,
            report.violation.as_ref().map(|v| &v.0)
        )
        .as_bytes(),
    );
    report
}

#[allow(clippy::needless_pass_by_value, reason = "callers build the state inline")]
fn assert_clean(name: &str, init: State) {
    let report = check(name, &init);
    if let Some((why, trace)) = report.violation {
        panic!("{name}: {why}\ninterleaving (thread, step):\n{trace:?}");
    }
    assert!(report.executions > 1, "{name}: nothing explored");
}

use Role::{Lockdown, Reader, Thief};

#[test]
fn three_readers_on_page_protection() {
    assert_clean("three readers, mprotect", State::new(&[Reader, Reader, Reader], 0, false, 0));
}

#[test]
fn readers_and_a_lockdown_on_page_protection() {
    assert_clean(
        "two readers + lockdown, mprotect",
        State::new(&[Reader, Reader, Lockdown], 0, false, 0),
    );
}

#[test]
fn one_failing_open_among_readers_and_a_lockdown() {
    // One reader's mprotect may fail where it opens; no close fails (see the
    // ignored test below for that).
    let mut init = State::new(&[Reader, Reader, Lockdown], 0, false, 1);
    init.closes_fail = false;
    assert_clean("reader + lockdown with one failing mprotect", init);
}

#[test]
fn readers_and_a_key_thief_under_virtualised_keys() {
    assert_clean(
        "two readers + thief, keyed, reclaim",
        State::new(&[Reader, Reader, Thief], 1, true, 0),
    );
}

#[test]
fn readers_and_a_lockdown_under_a_key() {
    assert_clean(
        "two readers + lockdown, keyed",
        State::new(&[Reader, Reader, Lockdown], 1, true, 0),
    );
}

/// Bug: `lockdown` counts a region whose maintenance lock is held as
/// "deferred" (`wipe_once` fails its `try_exclusive`), promising a wipe when
/// the last scope closes — but the holder may be `keys::steal` (or
/// `reclaim_key`) with no scope open. Found by this model (and fixed):
/// `unlock_exclusive` now wipes a poisoned region that no scope holds.
#[test]
fn a_lockdown_during_a_key_steal_still_wipes() {
    assert_clean(
        "reader + thief + lockdown, keyed",
        State::new(&[Reader, Thief, Lockdown], 1, true, 0),
    );
}

#[test]
fn key_thief_against_readers_under_fallback() {
    assert_clean(
        "two readers + thief, keyed (no reclaim)",
        State::new(&[Reader, Reader, Thief], 1, false, 0),
    );
}

/// Found by this model (and fixed): `Dedicated::reseal_failed` assumed "this
/// scope was the last one open", but `close_pages` drops the counts lock when its
/// `mprotect` fails, so another thread could open a read scope in between (no
/// syscall, the pages are still readable), pass its canary check and hold a
/// guard while the failing thread wiped and sealed the pages under it. It now
/// decides under the counts lock.
#[test]
fn a_failed_reseal_never_wipes_under_another_threads_guard() {
    assert_clean("two readers, one failing re-seal", State::new(&[Reader, Reader], 0, false, 1));
}

#[test]
fn the_explorer_finds_a_broken_protocol() {
    // A thief that skips the open check and the maintenance lock must be
    // caught stealing the key from under a reader's guard.
    let mut init = State::new(&[Reader, Thief], 1, false, 0);
    init.threads[1].pc = Pc::StealSeal;
    let report = check("thief without the maintenance lock", &init);
    assert!(report.violation.is_some(), "the explorer missed a key stolen from under a guard");
}
