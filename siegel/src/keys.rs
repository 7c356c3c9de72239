//! Protection keys for regions: where they come from, when they must be closed
//! in other threads first, and virtualisation (a region takes the key of the
//! least recently used closed region that opted in to it).
//!
//! # Keys are taken once and kept
//!
//! When siegel needs a key and has none to reuse, it takes a few from the kernel
//! at once ([`BATCH_KEYS`], `pkey_alloc`) and keeps them for the process's life:
//! a key whose region is dropped goes back to siegel's table, not to the
//! kernel, so no other code can get it while a thread may still hold it open.
//! Each key is in one state:
//!
//! - *fresh*: just allocated. Other code may have used the same key number
//!   before and left it open in any thread, so a round closes fresh keys in
//!   **every** thread ([`Reach::Every`]) — one round per batch, at most four in
//!   a process's life (15 keys), the first at the first keyed secret. A batch
//!   joins every round that is due anyway while the kernel has keys, so siegel
//!   holds more keys the more secrets come and go, and rounds grow rarer.
//! - *clean*: closed in every thread that could hold it. A new region takes a
//!   clean key with no round at all.
//! - *given*: guards a region.
//! - *dirty*: its region was dropped (or it is being stolen). Only threads that
//!   ever held a keyed scope (a leaked guard keeps its key open) and threads
//!   created since the key was given (they inherit their creator's rights) can
//!   hold it open: one round reaches just those ([`Reach::Since`]), for every
//!   dirty key at once, when no clean key is left.
//!
//! A round that cannot complete (a thread that blocks the signal, a full signal
//! queue, a thread that does not answer) fails only the region being created,
//! with [`Error::Revocation`]; the keys stay dirty or fresh and are tried again
//! next time. No key is given up for good, and no other region loses its key:
//! a key being stolen goes back to its region when its round fails.
//!
//! The first key also installs the two signal handlers the PKU backend needs:
//! the revocation handler (in [`pkru`]) and the fault guard ([`fault::install`])
//! that turns a touch of a siegel key outside a scope into an explained abort.

#![allow(unsafe_code)]

use core::{num::NonZeroU32, sync::atomic::Ordering};
use std::sync::Mutex;

use crate::{
    error::Error,
    fault,
    options::KeyExhaustion,
    pages::{protect_error, Pages},
    pkru::{self, Reach, RoundLock, KEY_COUNT, LIVE_KEYS, PKEYS},
    registry::{self, Entry},
    sync::lock,
    sys::{self, PkeyRights, ProtFlags, ProtectCall},
};

/// siegel's protection keys, by state (bit `k` for key `k`; see the module docs).
#[derive(Debug)]
struct Table {
    /// Closed everywhere they could be open: a region may take one at once.
    clean: u32,
    /// Given to a region since they were last closed, and free again.
    dirty: u32,
    /// From `pkey_alloc`, not yet closed by siegel.
    fresh: u32,
    /// Given to a region now.
    given: u32,
    /// When each key was last given to a region ([`sys::boottime_ticks`]).
    given_at: [u64; PKEYS],
    /// The process the table describes; a `fork` child finds its parent's.
    pid: u32,
}

/// Keys taken from the kernel at once when siegel needs more: one round (over
/// every thread) makes them all usable, and the rest stay free for other code
/// in the process until siegel needs them.
const BATCH_KEYS: usize = 4;

static TABLE: Mutex<Table> =
    Mutex::new(Table { clean: 0, dirty: 0, fresh: 0, given: 0, given_at: [0; PKEYS], pid: 0 });

fn bit(key: u32) -> u32 {
    1 << key
}

fn index(key: u32) -> usize {
    usize::try_from(key).unwrap_or(0) % PKEYS
}

impl Table {
    /// In a `fork` child, the keys the parent had given guard nothing here (its
    /// regions were not inherited): they are dirty, for the child's threads.
    fn adopt(&mut self) {
        let pid = sys::getpid();
        if self.pid != pid {
            if self.pid != 0 {
                self.dirty |= self.given;
                self.given = 0;
            }
            self.pid = pid;
        }
    }

    /// Gives a clean key to a region.
    fn take_clean(&mut self) -> Option<u32> {
        self.adopt();
        let key = self.clean.trailing_zeros();
        if key >= KEY_COUNT {
            return None;
        }
        self.clean &= !bit(key);
        self.given |= bit(key);
        self.given_at[index(key)] = sys::boottime_ticks();
        Some(key)
    }

    /// Takes up to [`BATCH_KEYS`] more keys from the kernel (fresh). Fails only
    /// if no key could be taken for a reason other than exhaustion.
    fn allocate(&mut self) -> Result<(), Error> {
        for _ in 0..BATCH_KEYS {
            match sys::pkey_alloc(PkeyRights::DISABLE_ACCESS) {
                Ok(key) if key < KEY_COUNT => {
                    fault::install();
                    LIVE_KEYS.fetch_or(bit(key), Ordering::AcqRel);
                    self.fresh |= bit(key);
                }
                Ok(key) => {
                    let _ = sys::pkey_free(key);
                    return Ok(());
                }
                Err(err) if sys::is_exhausted(&err) => return Ok(()),
                Err(_) if self.fresh != 0 => return Ok(()),
                Err(source) => return Err(Error::Protect { call: "pkey_alloc", source }),
            }
        }
        Ok(())
    }

    /// The keys that need a round before use, and whom it must reach.
    fn pending(&self) -> (u32, Reach) {
        if self.fresh != 0 {
            return (self.fresh | self.dirty, Reach::Every);
        }
        let since = (0..16u32)
            .filter(|&k| self.dirty & bit(k) != 0)
            .map(|k| self.given_at[index(k)])
            .min()
            .unwrap_or(0);
        (self.dirty, Reach::Since(since))
    }

    /// `keys` were closed by a round.
    fn cleaned(&mut self, keys: u32) {
        self.fresh &= !keys;
        self.dirty &= !keys;
        self.clean |= keys;
    }
}

/// Makes `fork` safe for siegel, once per process: in the child every region
/// is the parent's (absent), and is poisoned at once ([`Error::Forked`]). And a
/// child
/// inherits a lock that another thread held at the `fork` as locked forever, and
/// its first secret would wait for it. The thread calling `fork` takes them all
/// first (no siegel path holds two at once, so the order cannot deadlock) and
/// releases them on both sides. The round lock needs no such care (see
/// `pkru::lock_rounds`).
pub(crate) fn fork_safe() {
    extern "C" fn prepare() {
        crate::pages::hold_for_fork();
        registry::hold_for_fork();
        crate::sync::hold_for_fork(&TABLE);
        pkru::hold_for_fork();
    }
    extern "C" fn release() {
        crate::sync::release_after_fork();
    }
    extern "C" fn release_in_child() {
        crate::sync::release_after_fork();
        registry::poison_inherited();
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY:
        // - `prepare` takes locks in this thread; `release` drops exactly those
        //   guards, in this thread, on each side (the child's copy of this thread
        //   holds them), allocating nothing; the child's also poisons the
        //   regions it inherited (atomic stores).
        unsafe { sys::at_fork(prepare, release, release_in_child) };
    });
}

/// Gets a protection key for `entry`'s region — a clean one, one closed by a
/// round now, or under [`KeyExhaustion::Virtualize`] one stolen from the least
/// recently used closed region of that policy — and tags `pages` with it.
/// `None`: stay on page protection ([`KeyExhaustion::Fallback`], or every
/// virtualised key is open). No scope may be open on the pages (the region is
/// being built, or its entry is under maintenance).
///
/// # Errors
///
/// [`Error::KeysExhausted`] under [`KeyExhaustion::Error`];
/// [`Error::Revocation`] if a round could not close a key (nothing else
/// changed); [`Error::Protect`] or [`Error::Map`] if `pkey_alloc` or
/// `pkey_mprotect` fails.
pub(crate) fn obtain(
    entry: &'static Entry,
    pages: Pages,
    policy: KeyExhaustion,
) -> Result<Option<NonZeroU32>, Error> {
    let Some(key) = take(entry, policy)? else { return Ok(None) };
    let key_nz = NonZeroU32::new(key).expect("siegel: key 0 is the default key, never taken");
    pkru::set_owner(key, Some(entry));
    // SAFETY:
    // - the data pages are ours and page-aligned; no scope is open on them (see
    //   above), so the protection change strands no reference.
    if let Err(source) = unsafe { pages.protect_with_key(ProtFlags::READ_WRITE, key) } {
        release(key);
        return Err(protect_error(ProtectCall::PkeyMprotect, source));
    }
    Ok(Some(key_nz))
}

fn take(entry: &'static Entry, policy: KeyExhaustion) -> Result<Option<u32>, Error> {
    if let Some(key) = lock(&TABLE).take_clean() {
        return Ok(Some(key));
    }
    let round = pkru::lock_rounds().map_err(Error::Revocation)?;
    let (pending, reach) = {
        let mut table = lock(&TABLE);
        // Another thread's round may have closed keys while this one waited.
        if let Some(key) = table.take_clean() {
            return Ok(Some(key));
        }
        // A round is due: make it count. More keys from the kernel (if it has
        // any) join it, so that later secrets find clean keys without rounds.
        // A refusal matters only while siegel has no key at all: with keys to
        // close or to take back (a steal), it goes on without new ones.
        match table.allocate() {
            Err(err) if table.dirty == 0 && table.given == 0 => return Err(err),
            _ => {}
        }
        table.pending()
    };
    if pending != 0 {
        pkru::revoke(&round, pending, reach).map_err(Error::Revocation)?;
        let mut table = lock(&TABLE);
        table.cleaned(pending);
        return Ok(table.take_clean());
    }
    // Every key guards a region.
    match policy {
        KeyExhaustion::Fallback => Ok(None),
        KeyExhaustion::Error => Err(Error::KeysExhausted),
        KeyExhaustion::Virtualize => steal(&round, entry),
    }
}

/// Its region is gone (its pages unmapped, or never tagged): `key` is dirty,
/// closed by a round before another region gets it.
pub(crate) fn release(key: u32) {
    pkru::set_owner(key, None);
    let mut table = lock(&TABLE);
    table.adopt();
    table.given &= !bit(key);
    table.dirty |= bit(key);
}

/// Takes the key of the least recently used region under
/// [`KeyExhaustion::Virtualize`] that no thread has open — regions under
/// `Error` or `Fallback` keep their keys whatever happens — seals that region
/// by page protection, and closes the key where it may be open. `None` if every
/// such region is open. If the round fails, the victim gets its key back.
fn steal(round: &RoundLock, thief: &Entry) -> Result<Option<u32>, Error> {
    // A victim that could not be sealed: if no other yields, that is the error.
    let mut refused = None;
    for _ in 0..PKEYS {
        let mut best: Option<(&'static Entry, u64)> = None;
        registry::for_each_live(|entry| {
            if core::ptr::eq(entry, thief)
                || !entry.is_virtualised()
                || entry.key().is_none()
                || entry.is_open()
            {
                return;
            }
            let epoch = entry.epoch();
            if best.is_none_or(|(_, e)| epoch < e) {
                best = Some((entry, epoch));
            }
        });
        let Some((victim, _)) = best else { return refused.map_or(Ok(None), Err) };
        if !victim.try_exclusive() {
            continue;
        }
        let Some(victim_key) = victim.key() else {
            victim.unlock_exclusive();
            continue;
        };
        let key = victim_key.get();
        let sealed = {
            // SAFETY:
            // - the victim's data pages (published entry); no scope is open on
            //   them (maintenance lock), so sealing strands no reference.
            let seal = unsafe { victim.pages().protect_with_key(ProtFlags::NONE, 0) };
            match seal {
                Ok(()) => true,
                Err(source) => {
                    refused = Some(protect_error(ProtectCall::PkeyMprotect, source));
                    false
                }
            }
        };
        if !sealed {
            victim.unlock_exclusive();
            continue;
        }
        victim.clear_key();
        let since = lock(&TABLE).given_at[index(key)];
        // The victim stays locked through the round, so that a failed round
        // can hand its key back as if nothing had happened.
        let closed = pkru::revoke(round, bit(key), Reach::Since(since));
        if let Err(cause) = closed {
            // SAFETY:
            // - as above: the victim's pages, no scope open (maintenance lock).
            let back =
                unsafe { victim.pages().protect_with_key(ProtFlags::READ_WRITE, key) }.is_ok();
            if back {
                victim.set_key(victim_key);
            } else {
                // It stays sealed, and asks for a key at its next open.
                release(key);
            }
            victim.unlock_exclusive();
            return Err(Error::Revocation(cause));
        }
        Entry::note_stolen();
        victim.unlock_exclusive();
        lock(&TABLE).given_at[index(key)] = sys::boottime_ticks();
        return Ok(Some(key));
    }
    refused.map_or(Ok(None), Err)
}
