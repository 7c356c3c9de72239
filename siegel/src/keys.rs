//! Protection keys for regions: allocation, virtualisation (a region takes the
//! key of the least recently used region that no thread has open), and the
//! promise that a key handed to a region is closed in every thread first
//! ([`pkru::revoke`]).
//!
//! The first key also installs the two signal handlers the PKU backend needs:
//! the revocation handler ([`pkru::install_revocation`]) and the fault guard
//! ([`fault::install`]) that turns a touch of a siegel key outside a scope into
//! an explained abort.

#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

use crate::{
    error::Error,
    fault,
    options::KeyExhaustion,
    pages::{protect_error, Pages},
    pkru::{self, LIVE_KEYS},
    registry::{self, Entry},
    sys::{self, PkeyRights, ProtFlags},
};

/// Keys that could not be closed in every thread (a thread did not acknowledge
/// the revocation): kept allocated so nobody else gets them, never given to a
/// region.
static TAINTED_KEYS: AtomicU32 = AtomicU32::new(0);

/// Gets a protection key for `entry`'s region — a free one, or under
/// [`KeyExhaustion::Virtualize`] one stolen from the least recently used region
/// that no thread has open — closes it in every thread of the process (a fresh
/// key may be open in a thread that ran other code's `pkey_alloc`, a moved one
/// in a thread that inherited or leaked it), and tags `pages` with it. `None`:
/// stay on page protection (sealed; under virtualised keys an open asks again).
/// No scope may be open on the pages (the region is being built, or its entry
/// is under maintenance).
///
/// # Errors
///
/// [`Error::KeysExhausted`] under [`KeyExhaustion::Error`]; [`Error::Protect`] or
/// [`Error::Map`] if `pkey_alloc` or `pkey_mprotect` fails otherwise.
pub(crate) fn obtain(
    entry: &'static Entry,
    pages: Pages,
    policy: KeyExhaustion,
) -> Result<Option<u32>, Error> {
    let key = loop {
        match sys::pkey_alloc(PkeyRights::DISABLE_ACCESS) {
            // A tainted key stays allocated to us: ask for another.
            Ok(key) if TAINTED_KEYS.load(Ordering::Acquire) & (1 << key) != 0 => {}
            Ok(key) => {
                fault::install();
                LIVE_KEYS.fetch_or(1 << key, Ordering::AcqRel);
                break key;
            }
            Err(err) if sys::is_exhausted(&err) => match policy {
                KeyExhaustion::Virtualize => match steal(entry) {
                    Some(key) => break key,
                    None => return Ok(None),
                },
                KeyExhaustion::Fallback => return Ok(None),
                KeyExhaustion::Error => return Err(Error::KeysExhausted),
            },
            Err(source) => return Err(Error::Protect { call: "pkey_alloc", source }),
        }
    };
    if !pkru::revoke(key) {
        // Some thread may still hold the key open: it must never guard a region.
        TAINTED_KEYS.fetch_or(1 << key, Ordering::AcqRel);
        LIVE_KEYS.fetch_and(!(1 << key), Ordering::AcqRel);
        return match policy {
            KeyExhaustion::Error => Err(Error::KeysExhausted),
            _ => Ok(None),
        };
    }
    pkru::set_owner(key, Some(entry));
    // SAFETY:
    // - the data pages are ours and page-aligned; no scope is open on them (see
    //   above), so the protection change strands no reference.
    if let Err(source) = unsafe { pages.protect_with_key(ProtFlags::READ_WRITE, key) } {
        release(key);
        return Err(protect_error("pkey_mprotect", source));
    }
    Ok(Some(key))
}

/// Gives `key` back to the kernel: its region's pages are unmapped (or were
/// never tagged), so no page carries it any more.
pub(crate) fn release(key: u32) {
    pkru::set_owner(key, None);
    LIVE_KEYS.fetch_and(!(1 << key), Ordering::AcqRel);
    let _ = sys::pkey_free(key);
}

/// Takes the key of the least recently used keyed region that no thread has
/// open, leaving that region sealed by page protection. `None` if every keyed
/// region is open.
fn steal(thief: &Entry) -> Option<u32> {
    for _ in 0..16 {
        let mut best: Option<(&'static Entry, u64)> = None;
        registry::for_each_live(|entry| {
            if core::ptr::eq(entry, thief) || entry.key() == 0 || entry.is_open() {
                return;
            }
            let epoch = entry.epoch();
            if best.is_none_or(|(_, e)| epoch < e) {
                best = Some((entry, epoch));
            }
        });
        let (victim, _) = best?;
        if !victim.try_exclusive() {
            continue;
        }
        let key = victim.key();
        // SAFETY:
        // - the victim's data pages (published entry); no scope is open on them
        //   (maintenance lock), so sealing strands no reference.
        let sealed =
            key != 0 && unsafe { victim.pages().protect_with_key(ProtFlags::NONE, 0) }.is_ok();
        if sealed {
            victim.set_key(0);
        }
        victim.unlock_exclusive();
        if sealed {
            Entry::note_stolen();
            return Some(key);
        }
    }
    None
}
