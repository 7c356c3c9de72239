//! The syscall layer: thin, typed wrappers over the few Linux calls siegel needs.
//!
//! Every function here is named after the syscall it wraps, takes typed flags and
//! maps the C return convention to [`std::io::Result`] in one helper. Nothing above
//! this module calls `libc` directly.
//!
//! # Safety
//!
//! The wrappers that change a mapping (`munmap`, `mprotect`, `pkey_mprotect`,
//! `madvise`, `mlock`) are `unsafe fn`: the caller must own the pages (no Rust
//! reference into them may be invalidated by the change). The region core is the
//! only caller.

#![allow(unsafe_code)]

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!("siegel supports Linux only (mmap, mlock, madvise(MADV_DONTDUMP), pkeys)");
