//! Protection keys: `pkey_alloc`, `pkey_free`, `pkey_mprotect`.

use std::{io, ptr::NonNull};

use libc::{c_long, c_void};

use crate::sys::{ret_long, ProtFlags};

/// Access rights a protection key grants the calling thread (`PKEY_DISABLE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PkeyRights(u32);

impl PkeyRights {
    /// `PKEY_DISABLE_ACCESS`: no loads or stores through the key.
    pub(crate) const DISABLE_ACCESS: Self = Self(0x1);
}

/// `pkey_alloc(0, rights)`—allocates a protection key; the calling thread gets
/// `rights` for it.
///
/// # Errors
///
/// `ENOSYS` (kernel without pkeys), `EINVAL` (CPU or kernel without pkeys), `ENOSPC`
/// (all keys taken).
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/pkey_alloc.2.html>
pub(crate) fn pkey_alloc(rights: PkeyRights) -> io::Result<u32> {
    failpoint!(PkeyAlloc);
    // SAFETY:
    // - SYS_pkey_alloc takes (flags, access_rights) and touches no memory of ours [1];
    //   flags must be 0.
    //
    // [1] https://man7.org/linux/man-pages/man2/pkey_alloc.2.html
    let rc =
        unsafe { libc::syscall(libc::SYS_pkey_alloc, c_long::from(0u8), c_long::from(rights.0)) };
    let key = ret_long(rc)?;
    u32::try_from(key).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// `pkey_free(key)`—returns a protection key to the kernel.
///
/// Not `unsafe`: freeing a key cannot break memory safety. But pages still tagged
/// with `key` keep the tag, and a key allocated later with the same number would
/// govern them, so callers free a key only after unmapping its pages.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/pkey_free.2.html>
pub(crate) fn pkey_free(key: u32) -> io::Result<()> {
    failpoint!(PkeyFree);
    // SAFETY:
    // - SYS_pkey_free takes (pkey) and touches no memory of ours [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/pkey_free.2.html
    let rc = unsafe { libc::syscall(libc::SYS_pkey_free, c_long::from(key)) };
    ret_long(rc).map(drop)
}

/// `pkey_mprotect(addr, len, prot, key)`—changes the protection of whole pages
/// and tags them with protection key `key` (0: the default key).
///
/// # Safety
///
/// As for [`mprotect`](crate::sys::mprotect); `key` must be 0 or a key this process allocated with
/// [`pkey_alloc`].
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/pkey_mprotect.2.html>
pub(crate) unsafe fn pkey_mprotect(
    ptr: NonNull<u8>,
    len: usize,
    prot: ProtFlags,
    key: u32,
) -> io::Result<()> {
    failpoint!(PkeyMprotect);
    // SAFETY:
    // - the caller guarantees the range is ours, page-aligned, and that the change
    //   strands no live reference; SYS_pkey_mprotect takes (addr, len, prot, pkey) [1].
    //
    // [1] https://man7.org/linux/man-pages/man2/pkey_mprotect.2.html
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pkey_mprotect,
            ptr.as_ptr().cast::<c_void>(),
            len,
            c_long::from(prot.0),
            c_long::from(key),
        )
    };
    ret_long(rc).map(drop)
}

/// Whether a `pkey_alloc` error means every key is taken (`ENOSPC`).
pub(crate) fn is_exhausted(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ENOSPC)
}
