//! FreeBSD's spellings: `madvise(MADV_NOCORE)`, `minherit(INHERIT_NONE)`,
//! `pthread_getthreadid_np`; `getrandom` is the one Linux uses too.

use std::{io, ptr::NonNull};

use libc::c_void;

pub(crate) use crate::sys::random::getrandom;
use crate::sys::{ret, Advice};

/// Whether `madvise(Advice::LinuxDontDump)` leaves pages out of core dumps:
/// yes, `MADV_NOCORE`.
pub(crate) const CAN_EXCLUDE_FROM_CORE_DUMPS: bool = true;
/// Whether `madvise(Advice::LinuxDontFork)` keeps pages out of `fork`
/// children: yes, `minherit(INHERIT_NONE)`.
pub(crate) const CAN_EXCLUDE_FROM_FORK: bool = true;

/// `madvise(ptr, len, advice)`, as FreeBSD spells each advice:
///
/// - `Advice::LinuxDontDump`: `madvise(MADV_NOCORE)`;
/// - `Advice::LinuxDontFork`: `minherit(INHERIT_NONE)` (a `fork` child gets
///   no mapping there);
/// - `Advice::LinuxWipeOnFork`: nothing. On Linux it only keeps neighbouring
///   pages in separate kernel mappings so that a protection change never needs
///   a split that `vm.max_map_count` could refuse; FreeBSD has no such limit;
/// - `Advice::Random`: `madvise(MADV_RANDOM)`.
///
/// # Safety
///
/// `ptr` must be page-aligned and `ptr..ptr + len` a range this crate mapped.
///
/// # References
///
/// - <https://man.freebsd.org/cgi/man.cgi?query=madvise&sektion=2>
/// - <https://man.freebsd.org/cgi/man.cgi?query=minherit&sektion=2>
pub(crate) unsafe fn madvise(ptr: NonNull<u8>, len: usize, advice: Advice) -> io::Result<()> {
    failpoint!(Madvise);
    let addr = ptr.as_ptr().cast::<c_void>();
    match advice {
        Advice::LinuxDontDump => {
            // SAFETY:
            // - the caller guarantees the range is ours and page-aligned;
            //   MADV_NOCORE changes no contents [1].
            //
            // [1] https://man.freebsd.org/cgi/man.cgi?query=madvise&sektion=2
            ret(unsafe { libc::madvise(addr, len, libc::MADV_NOCORE) })
        }
        Advice::LinuxDontFork => {
            // SAFETY:
            // - the caller guarantees the range is ours and page-aligned;
            //   INHERIT_NONE acts only in `fork` children [1].
            //
            // [1] https://man.freebsd.org/cgi/man.cgi?query=minherit&sektion=2
            ret(unsafe { libc::minherit(addr, len, libc::INHERIT_NONE) })
        }
        Advice::LinuxWipeOnFork => Ok(()),
        Advice::Random => {
            // SAFETY:
            // - the caller guarantees the range is ours and page-aligned;
            //   MADV_RANDOM only turns off read-ahead [1].
            //
            // [1] https://man.freebsd.org/cgi/man.cgi?query=madvise&sektion=2
            ret(unsafe { libc::madvise(addr, len, libc::MADV_RANDOM) })
        }
    }
}

/// `pthread_getthreadid_np()`—the calling thread's id (the kernel's `lwpid`).
/// Async-signal-safe.
///
/// # References
///
/// - <https://man.freebsd.org/cgi/man.cgi?query=pthread_getthreadid_np&sektion=3>
pub(crate) fn gettid() -> i32 {
    // SAFETY:
    // - pthread_getthreadid_np(3) has no preconditions and cannot fail [1].
    //
    // [1] https://man.freebsd.org/cgi/man.cgi?query=pthread_getthreadid_np&sektion=3
    unsafe { libc::pthread_getthreadid_np() }
}
