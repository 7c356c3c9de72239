//! Writing into pages that may be sealed: the one ladder every writer behind a
//! seal climbs — a lockdown's or a drop's wipe (`registry.rs`), a pool
//! slot's canaries and its wipe at free (`pool/arena.rs`), the wipe after a
//! refused re-seal (`region.rs`) and the crash walk — with one failure
//! regime:
//!
//! ```text
//! 1. in place: this thread may write already (a write grant of the pages'
//!    key for this thread alone, or pages open for writing)
//! 2. through the kernel: /proc/self/mem, the pages stay sealed
//! 3. open, write, re-seal: the pages are open to every thread meanwhile;
//!    each protection change is tried twice
//! 4. (a wipe of all the pages only) replace them with fresh inaccessible
//!    pages: the secret is gone from the process
//! ```
//!
//! Never left readable: `Err` means nothing was written and the pages are as
//! they were. A re-seal refused after step 3 leaves the pages open: harmless
//! when they now hold zeros only (a wipe of all of them: [`Wrote::LeftOpen`]);
//! otherwise they hold other secrets and the process aborts.

#![allow(unsafe_code)]

use core::{num::NonZeroU32, ptr::NonNull};

use crate::{
    error::Error,
    pages::{self, protect_error, Pages},
    pkru,
    sys::{self, ProtFlags, ProtectCall},
};

/// Pages that may be sealed, as a write behind their seal needs them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sealed {
    /// The pages opened at step 3: a region's data pages, or one arena page.
    pub(crate) pages: Pages,
    /// Their protection key, if they are keyed.
    pub(crate) key: Option<NonZeroU32>,
    /// Their protection now (what the scopes counted on them need), restored
    /// after step 3.
    pub(crate) prot: ProtFlags,
}

/// What to write at `at`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Image<'a> {
    /// `len` zero bytes.
    Zeros(usize),
    /// These bytes.
    Bytes(&'a [u8]),
}

impl Image<'_> {
    fn len(self) -> usize {
        match self {
            Self::Zeros(len) => len,
            Self::Bytes(bytes) => bytes.len(),
        }
    }
}

/// How the image got there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wrote {
    /// Step 1.
    InPlace,
    /// Step 2.
    ThroughKernel,
    /// Step 3, re-sealed.
    Reopened,
    /// Step 3, and the re-seal was refused: the pages are open, holding zeros
    /// only (a wipe of all of them).
    LeftOpen,
    /// Step 4: the pages are fresh inaccessible memory.
    Replaced,
}

/// Writes `image` at `at` inside `sealed.pages` by the first step of the ladder
/// (module docs) that works. `in_place` stores the image directly (steps 1 and
/// 3): the caller's stores, so that bytes other threads may read concurrently
/// (a pool slot's canary) are stored the way they are read.
///
/// # Safety
///
/// `at..at + image.len()` lies inside `sealed.pages`, whole pages of a live
/// mapping of siegel's whose key (if any) is `sealed.key` and whose protection
/// is `sealed.prot`; no reference reads or writes those bytes meanwhile, and no
/// other thread changes the pages' protection (the caller holds their counts
/// lock, the maintenance lock, or is the only one left: a drop, a dying
/// process). `in_place` writes exactly `image` at `at` when the bytes are
/// writable by this thread.
///
/// # Errors
///
/// Nothing was written and the pages are as they were: the error of the
/// refused protection change (or of the replacement, for a wipe of all pages).
pub(crate) unsafe fn write(
    sealed: Sealed,
    at: NonNull<u8>,
    image: Image<'_>,
    in_place: impl Fn(),
) -> Result<Wrote, Error> {
    let Sealed { pages, key, prot } = sealed;
    if let Some(key) = key {
        pkru::with_write_access(key.get(), &in_place);
        return Ok(Wrote::InPlace);
    }
    if prot == ProtFlags::READ_WRITE {
        in_place();
        return Ok(Wrote::InPlace);
    }
    let through_kernel = match image {
        // SAFETY:
        // - inside our mapping (or the kernel refuses: shared or secret memory,
        //   no /proc), nothing references the bytes (caller).
        Image::Zeros(len) => unsafe { pages::wipe_sealed(at, len) },
        // SAFETY:
        // - as above.
        Image::Bytes(bytes) => unsafe { pages::write_sealed(at, bytes) },
    };
    if through_kernel.is_ok() {
        return Ok(Wrote::ThroughKernel);
    }
    // SAFETY:
    // - whole pages of ours (caller); widening strands no reference, and
    //   narrowing back to `prot` leaves what the counted scopes need.
    let protect = |to| unsafe { pages.protect(to) }.or_else(|_| unsafe { pages.protect(to) });
    let whole_wipe =
        matches!(image, Image::Zeros(_)) && at == pages.ptr() && image.len() == pages.len();
    if let Err(source) = protect(ProtFlags::READ_WRITE) {
        if !whole_wipe {
            return Err(protect_error(ProtectCall::Mprotect, source));
        }
        // SAFETY:
        // - whole pages of ours that nothing references (caller), wiped for
        //   good: replacing them loses nothing but the secret.
        return unsafe { sys::mmap_fixed_inaccessible(pages.ptr(), pages.len()) }
            .map(|()| Wrote::Replaced)
            .map_err(|source| Error::Map { len: pages.len(), source });
    }
    in_place();
    if protect(prot).is_ok() {
        return Ok(Wrote::Reopened);
    }
    if whole_wipe {
        return Ok(Wrote::LeftOpen);
    }
    sys::write_ignoring_errors(
        2,
        b"siegel: cannot re-seal pages holding secrets after a write behind their seal; \
          aborting rather than leave them readable\n",
    );
    std::process::abort();
}

/// Wipes all of `sealed.pages` (see [`write`]).
///
/// # Safety
///
/// As [`write`], for the whole pages.
///
/// # Errors
///
/// As [`write`]: the pages could be neither written nor replaced.
pub(crate) unsafe fn wipe(sealed: Sealed) -> Result<Wrote, Error> {
    let pages = sealed.pages;
    // SAFETY:
    // - `write` calls it only when this thread may write the pages, whole
    //   pages of ours that nothing references (the caller).
    let zero = || unsafe { pages::wipe(pages.ptr(), pages.len()) };
    // SAFETY:
    // - forwarded from the caller; `zero` writes exactly the zeros.
    unsafe { write(sealed, pages.ptr(), Image::Zeros(pages.len()), zero) }
}
