//! macOS's spellings: `minherit(VM_INHERIT_NONE)`, `getentropy`,
//! `pthread_threadid_np`. macOS has no way to leave pages out of a core dump.

use std::{io, ptr::NonNull};

use libc::c_void;

use crate::sys::{ret, Advice};

/// Whether `madvise(Advice::LinuxDontDump)` leaves pages out of core dumps:
/// no, macOS has no per-range exclusion (a core dump, when enabled with
/// `ulimit -c` and a writable `/cores`, holds every secret open or sealed).
pub(crate) const CAN_EXCLUDE_FROM_CORE_DUMPS: bool = false;
/// Whether `madvise(Advice::LinuxDontFork)` keeps pages out of `fork`
/// children: yes, `minherit(VM_INHERIT_NONE)`.
pub(crate) const CAN_EXCLUDE_FROM_FORK: bool = true;

/// `madvise(ptr, len, advice)`, as macOS spells each advice:
///
/// - `Advice::LinuxDontDump`: nothing — macOS has no equivalent (see
///   [`CAN_EXCLUDE_FROM_CORE_DUMPS`]);
/// - `Advice::LinuxDontFork`: `minherit(VM_INHERIT_NONE)` (a `fork` child
///   gets no mapping there);
/// - `Advice::LinuxWipeOnFork`: nothing. On Linux it only keeps neighbouring
///   pages in separate kernel mappings so that a protection change never needs
///   a split that `vm.max_map_count` could refuse; macOS has no such limit;
/// - `Advice::Random`: `madvise(MADV_RANDOM)`.
///
/// # Safety
///
/// `ptr` must be page-aligned and `ptr..ptr + len` a range this crate mapped.
///
/// # References
///
/// - <https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/minherit.2.html>
/// - <https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/madvise.2.html>
pub(crate) unsafe fn madvise(ptr: NonNull<u8>, len: usize, advice: Advice) -> io::Result<()> {
    failpoint!(Madvise);
    let addr = ptr.as_ptr().cast::<c_void>();
    match advice {
        Advice::LinuxDontDump | Advice::LinuxWipeOnFork => Ok(()),
        Advice::LinuxDontFork => {
            // SAFETY:
            // - the caller guarantees the range is ours and page-aligned;
            //   VM_INHERIT_NONE acts only in `fork` children [1].
            //
            // [1] minherit(2), macOS
            ret(unsafe { libc::minherit(addr, len, libc::VM_INHERIT_NONE) })
        }
        Advice::Random => {
            // SAFETY:
            // - the caller guarantees the range is ours and page-aligned;
            //   MADV_RANDOM only turns off read-ahead [1].
            //
            // [1] madvise(2), macOS
            ret(unsafe { libc::madvise(addr, len, libc::MADV_RANDOM) })
        }
    }
}

/// `getentropy(buf, n)`—fills `buf` from the kernel's CSPRNG, at most 256
/// bytes per call.
///
/// # Errors
///
/// Whatever `getentropy` reports (`EIO` if the kernel's generator failed).
///
/// # References
///
/// - <https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/getentropy.2.html>
pub(crate) fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    /// The most `getentropy` fills per call (`EIO` above it).
    const MAX: usize = 256;
    failpoint!(Getrandom);
    for chunk in buf.chunks_mut(MAX) {
        // SAFETY:
        // - `chunk` is a valid, writable buffer of `chunk.len() <= 256` bytes [1].
        //
        // [1] getentropy(2), macOS
        ret(unsafe { libc::getentropy(chunk.as_mut_ptr().cast::<c_void>(), chunk.len()) })?;
    }
    Ok(())
}

/// `pthread_threadid_np(NULL, &id)`—the calling thread's system-wide id, its
/// low 31 bits (ids are 64-bit on macOS; siegel only compares them). Not on
/// POSIX's async-signal-safe list, but it only reads the calling thread's own
/// structure: no lock, no allocation.
pub(crate) fn gettid() -> i32 {
    let mut id: u64 = 0;
    // SAFETY:
    // - a null thread means the calling thread; `id` is a valid, writable
    //   `uint64_t` [1].
    //
    // [1] pthread.h, macOS (`pthread_threadid_np`)
    let _ = unsafe { libc::pthread_threadid_np(0, &raw mut id) };
    i32::try_from(id & 0x7fff_ffff).unwrap_or(0)
}
