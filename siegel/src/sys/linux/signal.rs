//! Signals only Linux has: the real-time range siegel revokes keys with,
//! `tgkill`, and the protection key a fault reports.

use std::io;

use libc::{c_int, c_long};

use crate::sys::{getpid, ret_long, SigInfo};

/// The range of real-time signals, `SIGRTMIN..=SIGRTMAX` (glibc keeps the
/// lowest few for itself and reports the rest).
pub(crate) fn realtime_signals() -> core::ops::RangeInclusive<c_int> {
    libc::SIGRTMIN()..=libc::SIGRTMAX()
}

/// `tgkill(getpid(), tid, sig)`—sends `sig` to one thread of this process.
///
/// # Errors
///
/// `ESRCH` if the thread has exited.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/tgkill.2.html>
pub(crate) fn tgkill(tid: i32, sig: c_int) -> io::Result<()> {
    failpoint!(Tgkill);
    let pid = i32::try_from(getpid()).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY:
    // - SYS_tgkill takes (tgid, tid, sig) and touches no memory of ours [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/tgkill.2.html
    let rc = unsafe {
        libc::syscall(libc::SYS_tgkill, c_long::from(pid), c_long::from(tid), c_long::from(sig))
    };
    ret_long(rc).map(drop)
}

/// `si_code` of a fault caused by a protection key (`SEGV_PKUERR`).
pub(crate) const SEGV_PKUERR: c_int = 4;

/// The protection key of a `SEGV_PKUERR` fault.
///
/// # Safety
///
/// `info` is the kernel's `siginfo_t` for a `SIGSEGV` with `si_code` [`SEGV_PKUERR`].
pub(crate) unsafe fn fault_pkey(info: *mut SigInfo) -> u32 {
    // SAFETY:
    // - for SEGV_PKUERR the kernel fills `_sigfault._addr_pkey`, the u32 at byte
    //   offset 32 of `siginfo_t` on x86-64 (after `si_addr` at 16 and
    //   `si_addr_lsb` at 24, in the 8-aligned union) [1].
    //
    // [1] include/uapi/asm-generic/siginfo.h
    unsafe { info.cast::<u8>().wrapping_add(32).cast::<u32>().read_unaligned() }
}
