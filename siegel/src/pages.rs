//! Typed page ranges. A [`Mapping`] owns what `mmap` returned; [`Pages`] is a
//! range of whole pages inside one, carrying the address *with its provenance*
//! (no integer addresses travel between modules) and the length. Everything
//! that writes through a raw address here is an `unsafe fn` with its contract:
//! the one wipe ([`wipe`]), the one copy ([`copy`]), and the writes that reach
//! sealed pages without opening them ([`write_sealed`], [`wipe_sealed`]).
//!
//! # Safety
//!
//! A `Pages` value only ever describes whole pages of a live mapping siegel
//! made; the owner (a region) outlives every `Pages` derived from it, and the
//! registry forgets a region's `Pages` before the region unmaps them.

#![allow(unsafe_code)]

use core::{
    ptr::NonNull,
    sync::atomic::{compiler_fence, Ordering},
};
use std::{io, sync::Mutex};

use crate::{
    error::Error,
    sync::lock,
    sys::{self, ProtFlags, ProtectCall},
};

/// Length of every canary: a dedicated region's, below its secret, and each pool
/// slot's, at the start of the slot.
pub(crate) const CANARY_LEN: usize = 16;

/// Mappings whose `munmap` the kernel refused; retried by every later unmap.
static UNMAP_LATER: Mutex<Vec<Pages>> = Mutex::new(Vec::new());

/// For `fork` (see `keys::fork_safe`): holds the lock of the mappings to unmap
/// later.
pub(crate) fn hold_for_fork() {
    crate::sync::hold_for_fork(&UNMAP_LATER);
}

/// A mapping made with `mmap`, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of fresh, inaccessible, zero-filled pages.
    ///
    /// # Errors
    ///
    /// [`Error::Map`] when the address space or `vm.max_map_count` is exhausted.
    pub(crate) fn new(len: usize) -> Result<Self, Error> {
        let ptr = sys::mmap_anonymous(len).map_err(|source| Error::Map { len, source })?;
        Ok(Self { ptr, len })
    }

    /// The whole mapping.
    pub(crate) fn pages(&self) -> Pages {
        Pages { ptr: self.ptr, len: self.len }
    }

    /// Unmaps now (idempotent). A refused `munmap` (`ENOMEM`: unmapping needs a
    /// kernel mapping when a guard page merged with a neighbour, and the process
    /// is at `vm.max_map_count`) is retried at once, and if it still fails the
    /// pages are kept on a list retried by every later unmap: they were wiped
    /// already, and stay mapped (and locked) only until the kernel agrees.
    pub(crate) fn unmap(&mut self) {
        if self.len == 0 {
            return;
        }
        let pages = self.pages();
        self.len = 0;
        let mut pending = lock(&UNMAP_LATER);
        // SAFETY:
        // - each entry is a whole mapping of ours, already wiped, that nothing
        //   references any more (it was put here by its owner's drop).
        pending.retain(|p| unsafe { sys::munmap(p.ptr, p.len) }.is_err());
        // SAFETY:
        // - `ptr..ptr + len` was returned by `mmap_anonymous` and no reference into
        //   it escaped (the region is still being built, or is being destroyed).
        let unmapped = (0..2).any(|_| unsafe { sys::munmap(pages.ptr, pages.len) }.is_ok());
        if !unmapped {
            pending.push(pages);
        }
    }

    /// Forgets the mapping without unmapping it (in a `fork` child, where it is
    /// absent and the address may since belong to someone else).
    pub(crate) fn forget(&mut self) {
        self.len = 0;
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.unmap();
    }
}

/// Whole pages of a mapping siegel owns (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pages {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY:
// - `Pages` is an address range, not an owner: it grants nothing by itself; every
//   access through it is an `unsafe fn` whose caller proves the pages are live and
//   open. Sharing the description between threads is harmless.
unsafe impl Send for Pages {}
// SAFETY:
// - as above.
unsafe impl Sync for Pages {}

impl Pages {
    /// `len` bytes from `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be whole pages of a live mapping siegel made, which
    /// outlives the value.
    pub(crate) unsafe fn new(ptr: NonNull<u8>, len: usize) -> Self {
        Self { ptr, len }
    }

    pub(crate) fn ptr(self) -> NonNull<u8> {
        self.ptr
    }

    pub(crate) fn len(self) -> usize {
        self.len
    }

    /// The address, for diagnostics and comparisons only.
    pub(crate) fn addr(self) -> usize {
        self.ptr.as_ptr().addr()
    }

    /// `len` bytes from byte `offset`; both whole pages.
    ///
    /// # Panics
    ///
    /// If the range leaves these pages.
    pub(crate) fn slice(self, offset: usize, len: usize) -> Self {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len), "siegel: pages");
        // SAFETY:
        // - `offset + len <= self.len`: inside these pages [1].
        //
        // [1] https://doc.rust-lang.org/std/ptr/struct.NonNull.html#method.add
        Self { ptr: unsafe { self.ptr.add(offset) }, len }
    }

    /// A pointer `offset` bytes in.
    ///
    /// # Panics
    ///
    /// If `offset` is past the end.
    pub(crate) fn at(self, offset: usize) -> NonNull<u8> {
        assert!(offset <= self.len, "siegel: offset past the pages");
        // SAFETY:
        // - `offset <= len`: inside the pages or one past their end [1].
        //
        // [1] https://doc.rust-lang.org/std/ptr/struct.NonNull.html#method.add
        unsafe { self.ptr.add(offset) }
    }

    /// `mprotect` these pages to `prot`.
    ///
    /// # Safety
    ///
    /// Taking access away must not strand a live reference that is used
    /// afterwards (that access would fault).
    ///
    /// # Errors
    ///
    /// As [`sys::mprotect`]: `ENOMEM` when the change needs a kernel mapping and
    /// `vm.max_map_count` is reached.
    pub(crate) unsafe fn protect(self, prot: ProtFlags) -> io::Result<()> {
        // SAFETY:
        // - whole pages of our live mapping (type invariant); the caller
        //   guarantees no live reference loses access.
        unsafe { sys::mprotect(self.ptr, self.len, prot) }
    }

    /// `pkey_mprotect` these pages to `prot` under protection key `key` (0: the
    /// default key).
    ///
    /// # Safety
    ///
    /// As [`protect`](Self::protect); `key` is 0 or allocated to this process.
    pub(crate) unsafe fn protect_with_key(self, prot: ProtFlags, key: u32) -> io::Result<()> {
        // SAFETY:
        // - whole pages of our live mapping; the caller guarantees the rest.
        unsafe { sys::pkey_mprotect(self.ptr, self.len, prot, key) }
    }
}

/// Overwrites `len` bytes at `ptr` with zeros, with volatile stores the compiler
/// cannot drop as dead before `munmap`, then a compiler fence. The one wipe of
/// the crate. Async-signal-safe.
///
/// # Safety
///
/// `ptr..ptr + len` must be writable by this thread and referenced by nothing
/// that reads it concurrently.
pub(crate) unsafe fn wipe(ptr: NonNull<u8>, len: usize) {
    #[cfg(miri)]
    sys::assert_accessible(ptr, len, true);
    let base = ptr.as_ptr();
    // Bytes up to the first aligned word, whole words, then the tail bytes: a
    // word store is one instruction for eight bytes (and one step, not eight,
    // for Miri, which wipes whole arenas).
    let head = base.align_offset(WORD).min(len);
    let words = (len - head) / WORD;
    let tail = head + words * WORD;
    // `wrapping_add` stays in bounds below (every offset is below `len`),
    // without an unsafe precondition of its own.
    for i in (0..head).chain(tail..len) {
        // SAFETY:
        // - `i < len`: inside the range the caller made writable.
        unsafe { base.wrapping_add(i).write_volatile(0) };
    }
    for w in 0..words {
        #[allow(clippy::cast_ptr_alignment, reason = "`head` aligned it to a word")]
        let word = base.wrapping_add(head + w * WORD).cast::<u64>();
        // SAFETY:
        // - `head + (w + 1) * WORD <= tail <= len`: inside the writable range;
        //   `head` is the offset of the first 8-aligned address, so `word` is
        //   aligned. Any initialised or uninitialised bytes may be overwritten
        //   (`u64` has no invalid bit pattern, the range has no drop glue).
        unsafe { word.write_volatile(0) };
    }
    compiler_fence(Ordering::SeqCst);
}

/// The wipe's store width.
const WORD: usize = size_of::<u64>();

/// Copies `len` bytes from `src` to `dest`.
///
/// # Safety
///
/// `src` readable and `dest` writable for `len` bytes by this thread, in
/// different mappings (or disjoint), and no reference writes either meanwhile.
pub(crate) unsafe fn copy(src: NonNull<u8>, dest: NonNull<u8>, len: usize) {
    #[cfg(miri)]
    sys::assert_accessible(dest, len, true);
    #[cfg(miri)]
    sys::assert_accessible(src, len, false);
    // SAFETY:
    // - the caller guarantees validity and that the ranges do not overlap.
    unsafe { dest.copy_from_nonoverlapping(src, len) };
}

/// Writes `bytes` at `ptr` through the kernel (`/proc/self/mem`), whatever the
/// page's protection and without making it accessible to any thread.
///
/// # Safety
///
/// As [`sys::write_process_memory`]: a private anonymous mapping of ours, bytes
/// nothing references concurrently.
///
/// # Errors
///
/// Where `/proc` is missing, or the mapping is shared or `memfd_secret` memory.
pub(crate) unsafe fn write_sealed(ptr: NonNull<u8>, bytes: &[u8]) -> io::Result<()> {
    // SAFETY:
    // - forwarded from the caller.
    unsafe { sys::write_process_memory(ptr, bytes) }
}

/// [`wipe`] through the kernel: zeros `len` bytes at `ptr` as [`write_sealed`]
/// writes, up to 1 MiB per system call (`sys::zero_process_memory`).
///
/// # Safety
///
/// As [`write_sealed`].
///
/// # Errors
///
/// As [`write_sealed`]; bytes before the failing call are wiped.
pub(crate) unsafe fn wipe_sealed(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    // SAFETY:
    // - forwarded from the caller (as `write_sealed`'s).
    unsafe { sys::zero_process_memory(ptr, len) }
}

/// `N` random bytes, none of them zero: a canary made of them changes under any
/// write of a zero byte (the most common one-byte overflow: a NUL terminator, a
/// zeroed struct, `memset(.., 0, n + 1)`). Each byte is uniform over 1..=255 up to
/// a bias of under 1/128 (`b % 255 + 1`).
///
/// # Errors
///
/// [`Error::Random`] if `getrandom` fails.
pub(crate) fn nonzero_random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    fill_nonzero_random(&mut bytes)?;
    Ok(bytes)
}

/// Fills `bytes` as [`nonzero_random`] makes its array: one `getrandom` for
/// all of them (an arena's canaries, thousands of slots, in one call).
///
/// # Errors
///
/// [`Error::Random`] if `getrandom` fails.
pub(crate) fn fill_nonzero_random(bytes: &mut [u8]) -> Result<(), Error> {
    sys::getrandom(bytes).map_err(|source| Error::Random { source })?;
    for b in bytes {
        *b = *b % 255 + 1;
    }
    Ok(())
}

/// The error for a failed protection change or `madvise`: out of kernel mappings
/// is [`Error::Map`], which names `vm.max_map_count` and its fix; anything else
/// is [`Error::Protect`].
pub(crate) fn protect_error(call: ProtectCall, source: io::Error) -> Error {
    if sys::is_out_of_mappings(call, &source) {
        Error::Map { len: 0, source }
    } else {
        Error::Protect { call: call.name(), source }
    }
}
