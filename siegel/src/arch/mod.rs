//! Per-architecture instructions: the PKRU register and CPU feature detection.
//!
//! Both submodules export the same signatures, so callers never write `cfg`.

#![allow(unsafe_code)]

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod x86_64;
#[cfg(all(target_arch = "x86_64", not(miri)))]
pub(crate) use x86_64::*;

#[cfg(not(all(target_arch = "x86_64", not(miri))))]
mod disabled;
#[cfg(not(all(target_arch = "x86_64", not(miri))))]
pub(crate) use disabled::*;
