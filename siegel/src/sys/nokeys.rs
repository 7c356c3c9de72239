//! What only Linux has, answered "none" or `Unsupported` with Linux's
//! signatures for every other OS (macOS and FreeBSD in `bsd`, Windows in
//! `windows`), so that the code paths compile but never run:
//!
//! - protection keys: [`pkey_alloc`] fails, so `cpu::pku_support` (which asks
//!   `HAS_PROTECTION_KEYS` first) never selects the PKU backend, and no key,
//!   revocation signal or key-fault handler ever exists;
//! - the real-time revocation signal: [`realtime_signals`] is empty and
//!   [`tgkill`] fails (only keys are revoked);
//! - the thread list (`/proc/self/task`): [`thread_ids`] fails;
//! - writes behind a seal (`/proc/self/mem`): [`write_process_memory`] fails,
//!   so the pool's write of a sealed slot and the wipes at free take their
//!   open–write–re-seal path.

use core::ffi::c_int;
use std::{io, ptr::NonNull};

use super::{ProtFlags, SigInfo};

/// The error every call this OS lacks returns. Does not allocate (it runs in
/// signal handlers and the crash wipe).
pub(super) fn unsupported() -> io::Error {
    io::Error::from(io::ErrorKind::Unsupported)
}

/// Access rights a protection key would grant (`PKEY_DISABLE_*`); kept so
/// callers need no `cfg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PkeyRights(u32);

impl PkeyRights {
    /// `PKEY_DISABLE_ACCESS`: no loads or stores through the key.
    pub(crate) const DISABLE_ACCESS: Self = Self(0x1);
}

/// `pkey_alloc`: protection keys (PKU) are available on Linux x86-64 only.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn pkey_alloc(_rights: PkeyRights) -> io::Result<u32> {
    failpoint!(PkeyAlloc);
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "protection keys (PKU) are available on Linux x86-64 only",
    ))
}

/// `pkey_free`: no key is ever allocated here.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn pkey_free(_key: u32) -> io::Result<()> {
    failpoint!(PkeyFree);
    Err(unsupported())
}

/// `pkey_mprotect`: no key is ever allocated here.
///
/// # Safety
///
/// None beyond [`mprotect`](crate::sys::mprotect)'s; the call changes nothing.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) unsafe fn pkey_mprotect(
    _ptr: NonNull<u8>,
    _len: usize,
    _prot: ProtFlags,
    _key: u32,
) -> io::Result<()> {
    failpoint!(PkeyMprotect);
    Err(unsupported())
}

/// Whether a `pkey_alloc` error means every key is taken: never here.
pub(crate) fn is_exhausted(_err: &io::Error) -> bool {
    false
}

/// The write behind a seal: there is no `/proc/self/mem` here, so it always
/// fails and callers open, write and re-seal instead (see
/// [`CAN_WRITE_BEHIND_SEAL`]). Async-signal-safe.
///
/// # Safety
///
/// None: the call writes nothing. Kept `unsafe` to match the Linux signature.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) unsafe fn write_process_memory(_ptr: NonNull<u8>, _buf: &[u8]) -> io::Result<()> {
    failpoint!(ProcMemWrite);
    Err(unsupported())
}

/// [`write_process_memory`] of zeros: the same stand-in.
///
/// # Safety
///
/// None: the call writes nothing. Kept `unsafe` to match the Linux signature.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) unsafe fn zero_process_memory(_ptr: NonNull<u8>, _len: usize) -> io::Result<()> {
    failpoint!(ProcMemWrite);
    Err(unsupported())
}

/// The ids of this process's threads: not listed here (only the revocation
/// round asks, and it never runs without protection keys).
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn thread_ids() -> io::Result<Vec<i32>> {
    failpoint!(ThreadIds);
    Err(unsupported())
}

/// Whether thread `tid` still exists: unknown here, so `false` (only the
/// revocation round asks).
pub(crate) fn thread_alive(_tid: i32) -> bool {
    failpoint!(ThreadAlive => false);
    false
}

/// The signals thread `tid` blocks: not readable here (only the revocation
/// round asks).
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn blocked_signals(_tid: i32) -> io::Result<u64> {
    failpoint!(ThreadInfo);
    Err(unsupported())
}

/// When thread `tid` started and whether it runs: not readable here (only the
/// revocation round asks).
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn thread_stat(_tid: i32) -> io::Result<super::ThreadStat> {
    failpoint!(ThreadInfo);
    Err(unsupported())
}

/// A hook at thread exit: only the PKU backend asks (for a thread's leaked
/// keyed scopes), and there are no keys here.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn call_at_thread_exit(_hook: fn()) -> io::Result<()> {
    Err(unsupported())
}

/// The name of thread `tid`: `"?"` (not readable here).
pub(crate) fn thread_name(_tid: i32) -> String {
    "?".to_owned()
}

/// Clock ticks per second: the unit of [`boottime_ticks`].
pub(crate) fn ticks_per_second() -> u64 {
    100
}

/// The clock that orders protection keys' use: always 0, there are no keys
/// here to order.
pub(crate) fn boottime_ticks() -> u64 {
    0
}

/// Real-time signals for the revocation round: none (the round revokes
/// protection keys, which exist on Linux only).
#[allow(
    clippy::reversed_empty_ranges,
    reason = "deliberately empty: no signal is ever chosen here"
)]
pub(crate) fn realtime_signals() -> core::ops::RangeInclusive<c_int> {
    1..=0
}

/// Sending the revocation signal to one thread: never needed here.
///
/// # Errors
///
/// Always `Unsupported`.
pub(crate) fn tgkill(_tid: i32, _sig: c_int) -> io::Result<()> {
    failpoint!(Tgkill);
    Err(unsupported())
}

/// `si_code` of a protection-key fault: no fault reports this value here (no
/// keys are ever allocated).
pub(crate) const SEGV_PKUERR: c_int = c_int::MIN;

/// The protection key of a fault: `u32::MAX`, never one of siegel's keys.
///
/// # Safety
///
/// None: `info` is not read. Kept `unsafe` to match the Linux signature.
pub(crate) unsafe fn fault_pkey(_info: *mut SigInfo) -> u32 {
    u32::MAX
}
