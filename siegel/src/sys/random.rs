//! Randomness from the kernel: `getrandom(2)`, which Linux and FreeBSD spell
//! the same way (macOS has `getentropy` instead: `bsd/macos.rs`).

use std::io;

use libc::c_void;

/// `getrandom(buf, 0)`—fills `buf` from the kernel's CSPRNG.
///
/// # Errors
///
/// `ENOSYS` on Linux kernels older than 3.17.
///
/// # References
///
/// - <https://man7.org/linux/man-pages/man2/getrandom.2.html>
/// - <https://man.freebsd.org/cgi/man.cgi?query=getrandom&sektion=2>
pub(crate) fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    failpoint!(Getrandom);
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        // SAFETY:
        // - `rest` is a valid, writable buffer of `rest.len()` bytes [1].
        //
        // [1] https://man7.org/linux/man-pages/man2/getrandom.2.html
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast::<c_void>(), rest.len(), 0) };
        if let Ok(n) = usize::try_from(n) {
            filled += n;
        } else {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
    Ok(())
}
