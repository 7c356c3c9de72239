//! The scope protocol, written once for every kind of region: a dedicated
//! region ([`crate::region::RegionScopes`]) and a pool slot
//! ([`crate::pool::PoolSlot`]) each supply the steps that differ ([`Scoped`]),
//! and [`open`] / [`close`] walk them in the one order that keeps every failure
//! consistent:
//!
//! ```text
//! open:  admit (poisoned? key lost → take one back) → count in the registry
//!        → grant: a key in this thread's PKRU, or page protection
//!        → check canaries and state     (a failed check closes again)
//! close: (write scope) check for overflow while the pages are still open
//!        → revoke the grant → uncount   (a failed re-seal: wipe and poison)
//! ```
//!
//! Under the PKU backend with virtualised keys a region that holds no key and
//! cannot take one back is never opened with page protection (that would open
//! it to every thread): the open fails with [`Error::KeysExhausted`].

use core::num::NonZeroU32;
use std::time::{Duration, Instant};

use crate::{
    access::Access,
    error::Error,
    keys, nest,
    options::KeyExhaustion,
    pkru,
    registry::{self, Entry, Seal},
};

/// The steps of a scope that differ between a dedicated region and a pool slot.
pub(crate) trait Scoped {
    /// Whether a thread's read under page protection can nest on its own
    /// counted read ([`nest`]): the pages open as a whole (a dedicated region),
    /// not one by one (a pool's slots).
    const NESTS: bool;

    /// The registry entry whose open count and key guard the pages.
    fn entry(&self) -> &'static Entry;

    /// Page protection: counts `access` open and makes the pages allow it, the
    /// fallible step first. On error nothing changed.
    ///
    /// # Errors
    ///
    /// A failed protection change ([`Error::Protect`], [`Error::Map`]), or a
    /// failed renewal of a fresh slot.
    fn open_pages(&self, access: Access) -> Result<(), Error>;

    /// Page protection: counts `access` closed and narrows the pages to what the
    /// remaining scopes need.
    ///
    /// # Errors
    ///
    /// The re-seal failed; the access is still counted open.
    fn close_pages(&self, access: Access) -> Result<(), Error>;

    /// After access is granted: the canaries and the secret's own state (a
    /// pool slot's first scope writes its canaries first).
    ///
    /// # Errors
    ///
    /// [`Error::CanaryCorrupted`] or [`Error::Poisoned`], or what prevented
    /// a fresh slot's canaries; the caller closes.
    fn check(&self) -> Result<(), Error>;

    /// [`check`](Self::check) as a yes or no for the fast path: `true` where
    /// `check` would answer `Ok` (a fresh pool slot is formatted, as `check`
    /// does).
    fn intact(&self) -> bool;

    /// Page protection without the lock: counts one more scope of `access`
    /// if the pages already let it in (no system call). `false`: nothing
    /// counted, [`open_pages`](Self::open_pages) decides.
    fn share(&self, access: Access) -> bool;

    /// Page protection without the lock: counts one scope of `access` less
    /// if the pages stay as they are. `false`: nothing changed,
    /// [`close_pages`](Self::close_pages) decides.
    fn unshare(&self, access: Access) -> bool;

    /// Before a write scope closes, its pages still open in this thread: what
    /// the write may have damaged beyond the secret's own canary, which the
    /// next open checks anyway.
    fn after_write(&self);

    /// A close that cannot report an error found the re-seal impossible: make
    /// the secret unreadable (wipe and poison) and give the scope back.
    fn reseal_failed(&self, access: Access);
}

/// Opens `access` on `target` (see the module docs).
///
/// The fast path — a live keyed region — counts the scope, reads the seal
/// once, opens the key in this thread and checks the canaries; everything else
/// (page protection, a poisoned region, a key to take back) is out of line.
///
/// # Errors
///
/// [`Error::Poisoned`], [`Error::KeysExhausted`], [`Error::Revocation`], a
/// failed protection change (nothing changed), or a failed check (the access
/// is closed again).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
pub(crate) fn open(target: &impl Scoped, access: Access) -> Result<(), Error> {
    let seal = target.entry().enter();
    match seal.live_key() {
        Some(key) => open_keyed(target, access, key),
        None => open_slow(target, access, seal),
    }
}

/// What [`open_fast`] did: the answer fits in a register (no `Result`, no
/// `Error`, is built on the fast path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fast {
    /// The scope is open.
    Open,
    /// Nothing is counted: [`open`] walks the whole protocol and says why
    /// (maintenance was under way, or the check failed and the scope was
    /// given back).
    Declined,
    /// The scope is counted and the region is not a live keyed one (page
    /// protection, poison, a key to take back): [`open_slow`] goes on from
    /// this seal.
    Counted(Seal),
}

/// [`open`]'s fast path: a live keyed region is counted, granted and
/// checked ([`Fast::Open`]), and so is a live region on page protection whose
/// pages already let the scope in ([`open_fast_pages`]); anything else goes
/// on out of line — from the seal it counted ([`Fast::Counted`]: no second
/// count), or from the start ([`Fast::Declined`]).
///
/// A read under page protection that this thread's own counted read already
/// lets in is counted in the thread alone ([`open_nested_pages`]).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
pub(crate) fn open_fast<S: Scoped>(target: &S, access: Access) -> Fast {
    if S::NESTS && access == Access::Read && nest::any() && open_nested_pages(target) {
        return Fast::Open;
    }
    let entry = target.entry();
    let Some(seal) = entry.try_enter() else { return Fast::Declined };
    let Some(key) = seal.live_key() else { return open_fast_pages(target, access, seal) };
    entry.touch();
    if !pkru::open(key.get(), access) {
        return finish_fast(target, access, key);
    }
    checked_fast(target, access)
}

/// The fast path's check of a granted scope: [`Fast::Open`], or the scope
/// given back ([`give_back`]).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn checked_fast(target: &impl Scoped, access: Access) -> Fast {
    if target.intact() {
        Fast::Open
    } else {
        give_back(target, access)
    }
}

/// [`open_fast`] on a counted region that is not live and keyed: under page
/// protection (live, wanting no key) a scope the pages already let in is
/// counted without the lock ([`Scoped::share`]) and checked; everything else
/// goes on from `seal`. Out of line: the keyed path keeps its registers.
#[inline(never)]
fn open_fast_pages<S: Scoped>(target: &S, access: Access, seal: Seal) -> Fast {
    registry::assign_stripe();
    if !seal.is_unkeyed_and_live() || !target.share(access) {
        return Fast::Counted(seal);
    }
    counted_pages(target, access);
    checked_fast(target, access)
}

/// A read under page protection nested on this thread's own counted read
/// there ([`nest`]): nothing counted but in the thread, after the seal says
/// the region is live and unkeyed (not poisoned, not a `fork` parent's); then
/// the check. `false`: nothing counted (no such read, or the check failed:
/// the full protocol finds the same and reports it).
#[inline(never)]
fn open_nested_pages(target: &impl Scoped) -> bool {
    let entry = target.entry();
    if !entry.seal().is_unkeyed_and_live() || !nest::open_nested(entry) {
        return false;
    }
    if target.intact() {
        return true;
    }
    // Takes the nested read just counted back (`nest::close_read`: nested first).
    nest::close_read(entry);
    false
}

/// A scope under page protection was counted (registry and page counts): a
/// read of a region whose reads nest is recorded for this thread ([`nest`]).
#[inline]
fn counted_pages<S: Scoped>(target: &S, access: Access) {
    if S::NESTS && access == Access::Read {
        nest::counted(target.entry());
    }
}

/// [`open_fast`] after [`pkru::open`] asked for [`pkru::finish_open`].
#[cold]
#[inline(never)]
fn finish_fast(target: &impl Scoped, access: Access, key: NonZeroU32) -> Fast {
    registry::assign_stripe();
    pkru::finish_open(key.get(), access);
    checked_fast(target, access)
}

/// [`open_fast`] found the check failing: closes the scope again, for
/// [`open`] to find the same and report it.
#[cold]
#[inline(never)]
fn give_back(target: &impl Scoped, access: Access) -> Fast {
    close(target, access);
    Fast::Declined
}

/// The keyed grant and the check, for a counted scope on a live keyed region.
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn open_keyed(target: &impl Scoped, access: Access, key: NonZeroU32) -> Result<(), Error> {
    target.entry().touch();
    if !pkru::open(key.get(), access) {
        return finished_and_checked(target, access, key);
    }
    checked(target, access)
}

/// [`open_keyed`] after [`pkru::open`] asked for [`pkru::finish_open`].
#[cold]
#[inline(never)]
fn finished_and_checked(
    target: &impl Scoped,
    access: Access,
    key: NonZeroU32,
) -> Result<(), Error> {
    registry::assign_stripe();
    pkru::finish_open(key.get(), access);
    checked(target, access)
}

/// Checks an open scope's canaries and state; on failure closes it again. A
/// region poisoned since this scope was admitted (a lockdown, or another
/// thread's refused re-seal that wiped it) answers `Poisoned`: its canaries
/// went with the rest, which is not an underflow.
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn checked(target: &impl Scoped, access: Access) -> Result<(), Error> {
    if let Err(err) = target.check() {
        return Err(check_failed(target, access, err));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn check_failed(target: &impl Scoped, access: Access, err: Error) -> Error {
    let poisoned = target.entry().is_poisoned();
    close(target, access);
    if poisoned {
        Error::Poisoned
    } else {
        err
    }
}

/// [`open`] off the fast path: `seal` (read once the scope was counted) says
/// the region is poisoned, holds no key it wants, or runs on page protection.
#[cold]
#[inline(never)]
pub(crate) fn open_slow(target: &impl Scoped, access: Access, seal: Seal) -> Result<(), Error> {
    registry::assign_stripe();
    let entry = target.entry();
    let seal = if seal.is_poisoned() || seal.needs_key() {
        entry.leave();
        admit_with_key(entry)?
    } else {
        seal
    };
    match seal.key() {
        None => {
            target.open_pages(access).inspect_err(|_| entry.leave())?;
            counted_pages(target, access);
            checked(target, access)
        }
        Some(key) => open_keyed(target, access, key),
    }
}

/// Closes `access` on `target`.
///
/// # Errors
///
/// The re-seal failed ([`Error::Protect`]); the access is then still open.
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
pub(crate) fn try_close(target: &impl Scoped, access: Access) -> Result<(), Error> {
    let entry = target.entry();
    if access == Access::Write {
        target.after_write();
    }
    match entry.key() {
        None if closed_nested(target, access) => {}
        None => close_pages_counted(target, access)?,
        Some(key) => close_keyed::<false>(entry, key, access),
    }
    Ok(())
}

/// Under page protection, before a scope closes: a read of a region whose
/// reads nest gives back one of this thread's nested reads there instead, if
/// it has one ([`nest`]: they are counted in the thread alone), and nothing
/// else is to be done (`true`); else the thread's record loses the counted
/// read about to close ([`nest::close_read`]). Every page-protection close
/// asks this first.
#[inline]
fn closed_nested<S: Scoped>(target: &S, access: Access) -> bool {
    S::NESTS && access == Access::Read && nest::close_read(target.entry())
}

/// The page-protection part of a close, after [`closed_nested`]: without the
/// lock if the pages stay as they are ([`Scoped::unshare`]), then the count
/// given back.
///
/// # Errors
///
/// The re-seal failed; the access is still counted open.
#[allow(clippy::inline_always, reason = "measured with pku-cost: a call more otherwise")]
#[inline(always)]
fn close_pages_counted(target: &impl Scoped, access: Access) -> Result<(), Error> {
    if !target.unshare(access) {
        target.close_pages(access)?;
    }
    target.entry().leave();
    Ok(())
}

/// The keyed part of a close: the key is closed in this thread before the
/// scope stops being counted (uncounted, the key may move to another region).
/// `OWN`: the scope is one this thread opened and has counted since (a
/// guard's), so its key's generation cannot have moved ([`pkru::close_own`]).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn close_keyed<const OWN: bool>(entry: &Entry, key: NonZeroU32, access: Access) {
    let closed =
        if OWN { pkru::close_own(key.get(), access) } else { pkru::close(key.get(), access) };
    if closed {
        entry.leave();
    } else {
        finish_close_keyed(entry, key, access);
    }
}

/// [`close_keyed`] after [`pkru::close`] asked for [`pkru::finish_close`].
#[cold]
#[inline(never)]
fn finish_close_keyed(entry: &Entry, key: NonZeroU32, access: Access) {
    pkru::finish_close(key.get(), access);
    entry.leave();
}

/// [`close_own`] of a read scope, the key asked first of the region's entry
/// alone (a read has no `after_write`, and a keyed close touches nothing but
/// the entry and this thread's PKRU). `false`: not keyed, nothing done: the
/// caller closes with [`close_read_unkeyed`] (the key cannot change while the
/// scope is counted).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
pub(crate) fn close_read_keyed(entry: &Entry) -> bool {
    let Some(key) = entry.key() else { return false };
    close_keyed::<true>(entry, key, Access::Read);
    true
}

/// [`close`] of a read scope on `target` after [`close_read_keyed`] found it
/// not keyed: a nested read ([`nest`]) is given back here, without a call.
pub(crate) fn close_read_unkeyed<S: Scoped>(target: &S) {
    if !closed_nested(target, Access::Read) {
        close_unkeyed(target, Access::Read);
    }
}

/// Closes `access` on `target` where no error can be returned (drops): if
/// re-sealing fails, the secret is wiped and poisoned rather than left readable.
/// As [`try_close`], with page protection out of line. The scope may have been
/// opened on another thread (a handle's held access).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
pub(crate) fn close(target: &impl Scoped, access: Access) {
    close_counted::<false>(target, access);
}

/// [`close`] of a scope this thread opened and has counted since: a guard's
/// (guards stay on their thread).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
pub(crate) fn close_own(target: &impl Scoped, access: Access) {
    close_counted::<true>(target, access);
}

/// [`close`] and [`close_own`] (`OWN`, see [`close_keyed`]).
#[allow(clippy::inline_always, reason = "the hot path: measured with pku-cost")]
#[inline(always)]
fn close_counted<const OWN: bool>(target: &impl Scoped, access: Access) {
    if access == Access::Write {
        target.after_write();
    }
    let entry = target.entry();
    match entry.key() {
        Some(key) => close_keyed::<OWN>(entry, key, access),
        None if closed_nested(target, access) => {}
        None => close_unkeyed(target, access),
    }
}

/// [`close`] under page protection: without the lock if the pages stay as
/// they are ([`Scoped::unshare`]). Out of line: the keyed path keeps its
/// registers.
#[inline(never)]
fn close_unkeyed(target: &impl Scoped, access: Access) {
    if close_pages_counted(target, access).is_err() {
        close_failed(target, access);
    }
}

/// The re-seal of a closing scope failed (see [`close`]).
#[cold]
#[inline(never)]
fn close_failed(target: &impl Scoped, access: Access) {
    let entry = target.entry();
    if entry.is_inherited() {
        // A guard that crossed a `fork`: this child has no copy of the pages,
        // so there is nothing to re-seal, wipe or replace (and the address may
        // hold a mapping of the child's own by now).
        entry.leave();
    } else {
        target.reseal_failed(access);
    }
}

/// How long an open waits for a key to come free while every virtualised key
/// guards an open region, if this thread holds no keyed scope itself: such a
/// thread cannot close a cycle of waiters, so the keys it waits for are freed
/// as other threads' scopes end; the bound is for keys pinned by leaked guards.
const KEY_PATIENCE: Duration = Duration::from_secs(2);

/// How many times an open by a thread that holds keyed scopes itself retries
/// before it fails: the key it waits for may be one it holds open.
const KEY_RETRIES_HOLDING: u32 = 200;

/// [`admit`], and under virtualised keys make sure the region holds a key (the
/// seal returned holds it, or is unkeyed for page protection): a
/// region that lost its key and cannot take one back right now (every keyed
/// region is open, or another thread is taking it back) waits for one — up to
/// [`KEY_PATIENCE`], or briefly if this thread holds keyed scopes itself —
/// then fails with [`Error::KeysExhausted`]. It is never opened with page
/// protection, which would open it to every thread.
fn admit_with_key(entry: &'static Entry) -> Result<Seal, Error> {
    let seal = admit(entry)?;
    if !seal.needs_key() {
        return Ok(seal);
    }
    entry.leave();
    wait_for_key(entry)
}

fn wait_for_key(entry: &'static Entry) -> Result<Seal, Error> {
    let start = Instant::now();
    let holding = pkru::holds_keyed_scope();
    let mut retries = 0u32;
    loop {
        retries += 1;
        // Waiting helps only while some keyed scope is open (its end frees a
        // key to take): seen none open before a retry that failed too, a key
        // will not come by waiting (a lasting failure, every key pinned).
        let none_open = !holding && !registry::keyed_scope_open();
        if retries < 32 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
        let seal = admit(entry)?;
        if !seal.needs_key() {
            return Ok(seal);
        }
        entry.leave();
        let give_up = if holding {
            retries > KEY_RETRIES_HOLDING
        } else {
            none_open || start.elapsed() >= KEY_PATIENCE
        };
        if give_up {
            return Err(Error::KeysExhausted);
        }
    }
}

/// Admits one more scope: refuses a poisoned region and a `fork` parent's,
/// asks for a lost key back, then counts the scope (the caller must
/// [`Entry::leave`] on every later failure) and returns the seal as counted.
///
/// # Errors
///
/// [`Error::Poisoned`], [`Error::Forked`], and [`reclaim_key`]'s; nothing is
/// counted then.
fn admit(entry: &'static Entry) -> Result<Seal, Error> {
    if entry.is_poisoned() {
        return Err(poisoned(entry));
    }
    if entry.needs_key() {
        reclaim_key(entry)?;
    }
    let seal = entry.enter();
    if seal.is_poisoned() {
        entry.leave();
        return Err(poisoned(entry));
    }
    Ok(seal)
}

/// Why a poisoned region refuses: wiped, or a `fork` parent's (a child
/// poisons every region it inherited, at the fork).
#[cold]
fn poisoned(entry: &Entry) -> Error {
    if entry.is_inherited() {
        Error::Forked
    } else {
        Error::Poisoned
    }
}

/// Under virtualised keys, a region that lost its key asks for one back before
/// it opens (if no scope is open on it). If none can be had, [`open`] fails with
/// [`Error::KeysExhausted`].
///
/// # Errors
///
/// [`Error::Revocation`]: a key was there but could not be closed everywhere;
/// [`Error::Protect`] or [`Error::Map`]: a protection change was refused.
#[cold]
fn reclaim_key(entry: &'static Entry) -> Result<(), Error> {
    if !entry.try_exclusive() {
        return Ok(());
    }
    // The maintenance lock means no scope is open on the pages.
    let obtained = keys::obtain(entry, entry.pages(), KeyExhaustion::Virtualize);
    if let Ok(Some(key)) = obtained {
        entry.set_key(key);
    }
    entry.unlock_exclusive();
    // A key was there but could not be closed everywhere, or the kernel
    // refused a protection change: that, not "exhausted", is the open's error.
    obtained.map(drop)
}
