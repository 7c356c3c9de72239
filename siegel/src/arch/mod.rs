//! Per-architecture instructions: the PKRU register and CPU feature detection.
//!
//! Both submodules export the same signatures, so callers never write `cfg`.
//! The x86-64 one is Linux's: the PKRU slot of a signal frame is where Linux
//! puts it, and only Linux hands out protection keys (`sys::HAS_PROTECTION_KEYS`).

#![allow(unsafe_code)]

#[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
mod x86_64;
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
pub(crate) use x86_64::*;

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(miri))))]
mod disabled;
#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(miri))))]
pub(crate) use disabled::*;
