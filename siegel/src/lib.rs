//! Secrets in memory that nothing can read outside short, typed access scopes.
//!
//! A [`Protected<T, P>`](Protected) keeps a secret (a key, a seed, a token) in a
//! region of its own: `mlock`ed pages between two guard pages, left out of core
//! dumps and of `fork` children, sealed at rest and wiped when dropped. The
//! permission state `P` is a type — [`NoAccess`], [`ReadOnly`] or [`ReadWrite`] —
//! so code that reads a sealed secret or writes through a read scope does not
//! compile. The hardware enforces the same state at run time: with protection keys
//! (PKU: `WRPKRU`, a few dozen cycles, this thread only) where the CPU and kernel
//! have them, and with `mprotect` everywhere else.
//!
//! ```
//! use siegel::Protected;
//!
//! // Initialised in place: the seed never sits on the stack.
//! let mut seed = Protected::<[u8; 64]>::init_with(|s| s.fill(7))?;
//! let first = seed.read()?[0]; // a read scope, re-sealed at the end of the statement
//! seed.write()?[0] = first + 1; // a write scope
//! seed.with_read(|s| assert_eq!(s[0], 8))?;
//! println!("{seed:?} is protected by {}", seed.mechanism()); // never prints the secret
//! # Ok::<(), siegel::Error>(())
//! ```
//!
//! # Threat model
//!
//! siegel protects against:
//!
//! - **reads through memory-safety bugs elsewhere in the process** — overreads,
//!   stale pointers, uninitialised buffers, a logger dumping the wrong struct: a
//!   sealed region faults on any access, and guard pages stop linear overflows on
//!   both sides (a one-byte overflow faults; a one-byte underflow corrupts a random
//!   per-region canary, kept outside the data pages and checked on every open);
//! - **swap**: data pages are `mlock`ed ([`MlockPolicy::Required`] by default);
//! - **core dumps**: `MADV_DONTDUMP` — even a region open at the moment of the
//!   crash is left out;
//! - **`fork` children**: `MADV_DONTFORK` — the child has no pages at that
//!   address, so a child that touches the secret faults rather than computing
//!   with a copy (chosen over `MADV_WIPEONFORK`, which would hand the child an
//!   all-zero "key" that works silently);
//! - **other threads during a scope, under PKU only**: protection keys are per
//!   thread, so while this thread reads, another thread touching the region
//!   faults, and so does a signal handler that interrupts the scope (handlers run
//!   with the default PKRU). Under `mprotect` a scope opens the pages to the whole
//!   process — every thread and signal handler — for its duration;
//! - **leftovers**: regions are wiped with volatile stores before `munmap`; pool
//!   slots are wiped before their page can be read again;
//! - **the kernel's direct map and `/proc/PID/mem`**, with
//!   [`MemoryPolicy::PreferSecret`] or [`MemoryPolicy::RequireSecret`]:
//!   `memfd_secret(2)` pages are unmapped from the kernel's own address space, so
//!   root reading `/proc/PID/mem` (which ignores page protection) gets an error.
//!
//! Opt-in hardening on top:
//!
//! - [`crash::wipe_on_fatal_signal`]: a crash (`SIGSEGV`, `SIGBUS`, `SIGILL`,
//!   `SIGFPE`, `SIGABRT`) wipes every live region before the process dies, then
//!   chains to the previous handler or the default action;
//! - [`lockdown`]: wipe every live region now (say, on an intrusion alarm) and
//!   keep running; wiped handles answer [`Error::Poisoned`];
//! - [`Protected::rotate`]: move a long-lived secret to a fresh mapping (new
//!   address, new canary), so a leaked address goes stale;
//! - [`Protected::ct_eq`] and [`ReadGuard::ct_eq`]: comparisons whose timing does
//!   not depend on the secret ([`subtle`]).
//!
//! siegel does **not** protect against:
//!
//! - **code execution in the process**: `WRPKRU` and `mprotect` are unprivileged,
//!   so injected code can open any region;
//! - **a thread spawned with `std::thread::spawn` while a scope is open**, under
//!   PKU: it inherits its creator's PKRU, and with it access, until it calls
//!   [`thread::seal_thread`]. [`thread::spawn`] does that before running the
//!   thread's closure;
//! - **the kernel, and `ptrace` by root or the same user** (anonymous memory is
//!   readable through `/proc/PID/mem` by them, sealed or not — use
//!   `memfd_secret` memory where that matters);
//! - **neighbours in a pool**: a [`Pool`] shares pages (page protection) or a key
//!   (PKU) between secrets; a scope on one opens its neighbours too;
//! - **cold-boot and hardware attacks**, or copies the program makes itself (a
//!   value copied out of a guard lives on the stack like any other).
//!
//! # Backends
//!
//! At the first allocation siegel detects, once, whether CPUID leaf 7 reports PKU
//! and OSPKE and whether the kernel hands out a key ([`pku_support`]). Each region
//! then gets a protection key. x86-64 has 15 free keys; when they run out, keys are
//! virtualised ([`KeyExhaustion::Virtualize`], the default): the new region takes
//! the key of the least recently used region that no thread has open, which is
//! sealed by page protection until its next open takes a key back the same way.
//! [`KeyExhaustion::Fallback`] keeps region 16 and later on page protection for
//! good, and [`KeyExhaustion::Error`] fails with [`Error::KeysExhausted`].
//! [`Protected::mechanism`] says what protects a handle right now. The choice is
//! overridable with `SIEGEL_BACKEND=auto|pku|mprotect` or [`Options::backend`]; a
//! forced `pku` where it is unavailable is an [`Error::PkuUnavailable`], never a
//! silent downgrade.
//!
//! Scopes nest and overlap: each region counts open scopes (process-wide under a
//! lock for `mprotect`, per thread for PKU), so the first open and the last close
//! change protection and the ones in between make no system call. Under PKU no
//! scope makes a system call at all.
//!
//! # Many small secrets
//!
//! A dedicated region costs three mappings, a locked page and ~10 µs. A [`Pool`]
//! packs small secrets into shared guarded arenas — same handles, same scopes, a
//! canary per slot, metadata outside the data pages — at ~86 bytes of memory each
//! and a fraction of the cost; see its docs for the isolation it trades away.
//!
//! # Text, generated and loaded secrets
//!
//! - [`Protected<str>`](Protected): text whose bytes are checked to be UTF-8
//!   before the handle exposes `&str`; built by [`Protected::take_string`]
//!   (wiping the `String`), [`Protected::<str>::read_from`](Protected::read_from)
//!   and `from_env`.
//! - [`Text<N>`] and [`Bytes<N>`]: fixed-capacity inline strings, usable as
//!   fields of `#[protected]` structs.
//! - [`Protected::random`], [`Protected::random_slice`] and [`fill_random`]: the
//!   kernel's random bytes written straight into the region, for
//!   [`AnyBitPattern`] types only.
//! - `read_from(reader, limit)`, [`Protected::read_exact_from`], `from_hex`,
//!   `from_base64`: loaded straight into protected memory; the region grows by
//!   reallocation (the outgrown one wiped), never through a heap buffer.
//! - [`Protected::read_once`]: a one-time secret, wiped after one read.
//! - With the `serde` feature: `Deserialize` into protected memory, and
//!   `Serialize` only for types that opt in (`SerializableSecret`).
//!
//! ```
//! use siegel::{protected, Protected, Text};
//!
//! #[protected]
//! struct Login {
//!     user: Text<64>,
//!     password: Text<128>,
//! }
//!
//! let mut typed = String::from("hunter2");
//! let login = Protected::<Login>::try_init_with(|l| {
//!     l.user_mut().try_set("alice")?;
//!     l.password_mut().set_from(&mut typed) // copies, then wipes `typed`
//! })?;
//! assert!(login.read()?.password().ct_eq("hunter2"));
//!
//! let key = Protected::<[u8; 32]>::random()?;
//! let token = Protected::<str>::read_from(&b"bearer xyz"[..], 1024)?;
//! assert_eq!(token.len(), 10);
//! # let _ = key;
//! # Ok::<(), siegel::Error>(())
//! ```
//!
//! Bad input — over-long, invalid UTF-8 or encoding, a short or failing reader —
//! is a typed [`Error`] ([`Error::CapacityExceeded`], [`Error::InvalidUtf8`],
//! [`Error::Decode`], [`Error::ShortRead`], [`Error::Read`],
//! [`Error::LimitExceeded`]); whatever was already copied is wiped and unmapped.
//!
//! # Drop policy
//!
//! Guards re-seal in `Drop`, which cannot report errors. Re-sealing cannot fail in
//! practice (a region's data pages are one mapping of their own, so `mprotect`
//! needs no memory); if it ever does, the secret is wiped and the handle poisoned
//! ([`Error::Poisoned`] on the next open) rather than left readable, and if even
//! that is impossible the process aborts.
//!
//! # Platforms
//!
//! Linux only. Protection keys on x86-64 (Intel since Skylake-SP, AMD since Zen 3);
//! page protection on every Linux architecture; `memfd_secret` on Linux 5.14+ (on
//! by default since 6.5).

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod arch;
mod backend;
mod cpu;
pub mod crash;
mod error;
mod load;
mod macro_support;
mod perm;
mod protected;
mod random;
mod region;
#[cfg(feature = "serde")]
mod serde_impls;
mod sys;
mod text;
pub mod thread;
mod wipe;

#[cfg(feature = "serde")]
pub use crate::serde_impls::{InPlace, SerializableSecret};
pub use crate::{
    backend::{Backend, KeyExhaustion, Mechanism, Memory, MemoryPolicy, MlockPolicy, Options},
    cpu::{pku_support, PkuSupport},
    error::{Error, TransitionError},
    perm::{NoAccess, Permission, ReadOnly, ReadWrite, Readable, Writable, WriteScope},
    protected::{CtEq, Plain, Protected, ReadGuard, RegionInfo, Secret, WriteGuard},
    random::{fill_random, AnyBitPattern},
    region::{lockdown, Lockdown, Pool},
    text::{Bytes, Text},
};
/// The `base64` crate, re-exported for its engines
/// ([`base64::engine::general_purpose::STANDARD`]) used by
/// [`Protected::<[u8]>::from_base64`](Protected::from_base64).
#[cfg(feature = "base64")]
pub use base64;
/// The `hex` crate, re-exported.
#[cfg(feature = "hex")]
pub use hex;

#[doc(inline)]
pub use siegel_macros::protected;
/// The constant-time comparison traits behind [`Protected::ct_eq`] and
/// [`ReadGuard::ct_eq`], re-exported.
pub use subtle;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Items the code generated by `#[protected]` relies on. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use core;

    pub use static_assertions;

    pub use crate::{
        __siegel_assert_layout as assert_layout, __siegel_impl_plain as impl_plain,
        macro_support::{
            field_is_plain, hidden_field_is_in_place, HiddenField, InPlace, PlainField,
            PlainFieldAt, MAX_ALIGN,
        },
        protected::Plain,
        region::Access,
    };
}
