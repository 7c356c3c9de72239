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
//! use siegel::{Dedicated, Protected};
//!
//! // Initialised in place, in a region of its own: the seed never sits on the stack.
//! let mut seed = Protected::<[u8; 64]>::init_with_in(Dedicated, |s| s.fill(7))?;
//! let first = seed.read()?[0]; // a read scope, re-sealed at the end of the statement
//! seed.write()?[0] = first + 1; // a write scope
//! assert_eq!(seed.read()?[0], 8);
//! // A closure that can fail: one `?` covers the open and the closure's error.
//! seed.with_write(siegel::fill_random)?;
//! println!("{seed:?} is protected by {}", seed.info().mechanism); // never prints the secret
//! # Ok::<(), siegel::Error>(())
//! ```
//!
//! # Constructors: what to build × where
//!
//! Every constructor is an associated function of [`Protected`], once, and
//! takes as its first argument the [`Place`] the secret goes to, as
//! `Box::new_in` takes an allocator: [`Dedicated`] (a region of its own with
//! [`Options::default`]), [`Options`] of your choosing (a region of its own
//! made with them), or `&pool` (a slot of a [`Pool`]; a secret larger than a
//! slot gets a region of its own with the pool's options). Every row works in
//! every column; the type says what comes out.
//!
//! | what to build | a region of its own: [`Dedicated`] | with [`Options`] (`opts`) | in a [`Pool`] (`&pool`) |
//! |---|---|---|---|
//! | all-zero value | [`zeroed_in(Dedicated)`](Protected::zeroed_in) | `zeroed_in(opts)` | `zeroed_in(&pool)` |
//! | all-zero slice of `n` | [`zeroed_slice_in(Dedicated, n)`](Protected::zeroed_slice_in) | `zeroed_slice_in(opts, n)` | `zeroed_slice_in(&pool, n)` |
//! | computed in place, never on the stack (`f` may fail) | [`init_with_in(Dedicated, f)`](Protected::init_with_in) | `init_with_in(opts, f)` | `init_with_in(&pool, f)` |
//! | a slice of `n` computed in place (`f` may fail) | [`init_slice_with_in(Dedicated, n, f)`](Protected::init_slice_with_in) | `init_slice_with_in(opts, n, f)` | `init_slice_with_in(&pool, n, f)` |
//! | random (integers and arrays of them) | [`random_in(Dedicated)`](Protected::random_in) | `random_in(opts)` | `random_in(&pool)` |
//! | a random slice of `n` | [`random_slice_in(Dedicated, n)`](Protected::random_slice_in) | `random_slice_in(opts, n)` | `random_slice_in(&pool, n)` |
//! | moved from a value, a slice, a `String` (wiped) | [`take_in(Dedicated, &mut s)`](Protected::take_in) | `take_in(opts, &mut s)` | `take_in(&pool, &mut s)` |
//! | read from a file, stdin, a socket: `[u8]`, `str` | [`read_from_in(Dedicated, r, limit)`](Protected::read_from_in) | `read_from_in(opts, r, limit)` | `read_from_in(&pool, r, limit)` |
//! | exactly `size_of::<T>()` bytes of a reader (the rest left in it) | [`read_exact_from_in(Dedicated, r)`](Protected::read_exact_from_in) | `read_exact_from_in(opts, r)` | `read_exact_from_in(&pool, r)` |
//! | a whole file that must be exactly the key (`[u8; N]`, [`Load`]) | [`init_with_in(Dedicated, \|k\| k.load_from(r))`](Protected::init_with_in) | `init_with_in(opts, \|k\| k.load_from(r))` | `init_with_in(&pool, \|k\| k.load_from(r))` |
//! | decoded hex: `[u8]`, `[u8; N]` | [`from_hex_in(Dedicated, s)`](Protected::from_hex_in) | `from_hex_in(opts, s)` | `from_hex_in(&pool, s)` |
//! | decoded base64: `[u8]`, `[u8; N]` | [`from_base64_in(Dedicated, e, s)`](Protected::from_base64_in) | `from_base64_in(opts, e, s)` | `from_base64_in(&pool, e, s)` |
//! | an environment variable: `[u8]`, `str` | [`from_env_in(Dedicated, name)`](Protected::from_env_in) | `from_env_in(opts, name)` | `from_env_in(&pool, name)` |
//! | the same, then unset (`unsafe`: no other thread may touch the environment) | [`from_env_removed_in(Dedicated, name)`](Protected::from_env_removed_in) | `from_env_removed_in(opts, name)` | `from_env_removed_in(&pool, name)` |
//!
//! A [`#[protected]`](protected) struct of several secrets is built with the
//! same constructors (`Protected::<Creds>::init_with_in(&pool, |c| ..)`), or
//! with its own shortcuts for a region of its own, `Creds::protect_with(|c| ..)`
//! and `Creds::protect_zeroed()`.
//!
//! ```
//! use siegel::{Backend, Dedicated, Options, Pool, Protected};
//!
//! let key = Protected::<[u8; 32]>::random_in(Dedicated)?; // a region of its own
//! let pool = Pool::new();
//! let session = Protected::<[u8; 32]>::random_in(&pool)?; // one of many small secrets
//! let paged = Protected::<[u8]>::from_hex_in(Options::new().backend(Backend::Mprotect), "00ff")?;
//! let mut typed = String::from("hunter2");
//! let password = Protected::<str>::take_in(&pool, &mut typed)?; // `typed` is wiped
//! assert!(session.info().pooled && password.info().pooled);
//! assert!(!key.info().pooled && !paged.info().pooled);
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
//!   both sides (a one-byte overflow faults; a one-byte underflow changes a
//!   canary of 16 random *non-zero* bytes, kept outside the data pages and
//!   checked on every open, so even a zero byte written below the secret is
//!   seen). In a [`Pool`] every byte between a slot's start and its secret is
//!   canary, and a write scope that overflowed into the next slot is caught when
//!   it closes and blamed on the writer, not the neighbour;
//! - **swap**: data pages are `mlock`ed ([`MlockPolicy::Required`] by default);
//! - **core dumps**: `MADV_DONTDUMP` — even a region open at the moment of the
//!   crash is left out;
//! - **`fork` children**: `MADV_DONTFORK` — the child has no pages at that
//!   address, so it cannot compute with a copy (chosen over `MADV_WIPEONFORK`,
//!   which would hand the child an all-zero "key" that works silently). In the
//!   child every open of a parent's secret answers [`Error::Forked`] (an open
//!   handle or guard that crossed the fork panics with that reason), and the
//!   child makes and uses secrets of its own, from the same [`Pool`] too;
//! - **other threads during a scope, under PKU**: protection keys are per thread,
//!   so while this thread reads, another thread touching the region is stopped,
//!   and so is a signal handler that interrupts the scope (handlers run with the
//!   default PKRU). A scope never widens beyond its thread: when no key can be
//!   had it fails with [`Error::KeysExhausted`] instead of falling back to page
//!   protection; before a key guards a region it is closed in every thread that
//!   may hold it (threads spawned during a scope, threads that leaked a guard,
//!   threads of other code that ran `pkey_alloc`), by a real-time signal whose
//!   handler edits the PKRU saved in its frame (see [Signals](#signals)); a
//!   thread that exits gives back the scopes it leaked. Under `mprotect` a scope
//!   opens the pages to the whole process — every thread and signal handler —
//!   for its duration;
//! - **a reference used on the wrong thread, under PKU**: `&T` from a guard is
//!   `Send` for `Plain` types, so safe code can hand it to a thread that has no
//!   scope; touching it there is a deliberate abort with a message naming the
//!   rule, never an unexplained crash. Share the `&Protected` instead — it is
//!   `Sync` — and let each thread open its own scope;
//! - **leftovers**: every secret is wiped before `drop` returns — a dedicated
//!   region before it is unmapped, a pool slot before it goes back to the free
//!   list (through `/proc/self/mem` when its page is sealed, so the page never
//!   opens), the old copy of a [`Protected::rotate`] likewise;
//! - **the kernel's direct map and `/proc/PID/mem`**, with
//!   [`MemoryPolicy::PreferSecret`] or [`MemoryPolicy::RequireSecret`]:
//!   `memfd_secret(2)` pages are unmapped from the kernel's own address space, so
//!   root reading `/proc/PID/mem` (which ignores page protection) gets an error.
//!
//! Opt-in hardening on top:
//!
//! - [`crash::wipe_on_fatal_signal`]: a crash (`SIGSEGV`, `SIGBUS`, `SIGILL`,
//!   `SIGFPE`, `SIGABRT`) wipes and poisons every live region before the process
//!   dies, then chains to the previous handler or the default action;
//!   [`crash::Order::PreviousFirst`] lets a runtime that recovers from its own
//!   faults (wasmtime, a GC) see them first;
//! - [`lockdown`]: wipe every live region now (say, on an intrusion alarm) and
//!   keep running; wiped handles answer [`Error::Poisoned`], and an open handle
//!   or guard panics on deref rather than hand out its secret; what has a scope
//!   open is reported as deferred and wiped when that scope closes;
//! - [`Protected::rotate`]: move a long-lived secret to a fresh mapping (new
//!   address, new canary), so a leaked address goes stale;
//! - [`CtEq::ct_eq`] (`key.read()?.ct_eq(x)`, for arrays, slices, `str`,
//!   [`Text`] and [`Bytes`]): comparisons whose timing does not depend on the
//!   secret ([`subtle`]); a slice's length is public.
//!
//! siegel does **not** protect against:
//!
//! - **code execution in the process**: `WRPKRU` and `mprotect` are unprivileged,
//!   so injected code can open any region;
//! - **a thread spawned with `std::thread::spawn` while a scope is open**, under
//!   PKU, *until the key moves on*: it inherits its creator's PKRU, and with it
//!   access to that region, until it calls [`thread::seal_thread`] or the key
//!   guards another region (then it is closed in every thread).
//!   [`thread::spawn`] seals before running the thread's closure;
//! - **a thread that blocks the revocation signal**: a key it might hold is
//!   never handed to another region; the new secret that needed it fails with
//!   [`Revocation::SignalBlocked`] naming the thread, and the key is tried again
//!   for the next one (see [Signals](#signals));
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
//! the key of the least recently used *virtualised* region that no thread has
//! open, which is sealed by page protection until its next open takes a key back
//! the same way. [`KeyExhaustion::Fallback`] keeps region 16 and later on page
//! protection for good, and [`KeyExhaustion::Error`] fails with
//! [`Error::KeysExhausted`]. A region made under `Error` or `Fallback` that got a
//! key keeps it until it drops: no steal takes it, and its mechanism never
//! changes. [`Protected::info`] says what protects a handle right now
//! ([`RegionInfo::mechanism`]). The choice is
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
//!   before the handle exposes `&str`; built by [`take_in`](Protected::take_in)
//!   (wiping the `String`), [`read_from_in`](Protected::read_from_in) and
//!   [`from_env_in`](Protected::from_env_in).
//! - [`Text<N>`] and [`Bytes<N>`]: fixed-capacity inline strings, usable as
//!   fields of `#[protected]` structs.
//! - [`Load`]: the loaders for fields — `[u8; N]`, `Text<N>`, `Bytes<N>` — in
//!   an initialiser or a write scope: `load_from(reader)`, `load_hex`,
//!   `load_base64`, `load_env`, straight into the field. A `[u8; N]` takes
//!   exactly `N` bytes, so a key file with a trailing newline is
//!   [`Error::TrailingInput`], never silently cut.
//! - [`Protected::random_in`], [`Protected::random_slice_in`] and [`fill_random`]: the
//!   kernel's random bytes written straight into the region, for
//!   [`AnyBitPattern`] types only.
//! - `read_from_in(place, reader, limit)`, `read_exact_from_in`, `from_hex_in`,
//!   `from_base64_in`: loaded straight into protected memory; the region grows by
//!   reallocation (the outgrown one wiped), never through a heap buffer.
//! - [`Protected::read_once`]: a one-time secret, wiped after one read.
//! - With the `serde` feature: `#[protected(deserialize)]`, after which
//!   `serde_json::from_str::<Protected<Config>>(json)` fills a whole struct of
//!   secrets in place, in one call; `Deserialize` into protected memory for
//!   `Protected<T>` where `T: DeserializeInPlace`, and `InPlace` for fields (a
//!   `Text`/`Bytes` or a `#[protected]` struct is never deserialized by value);
//!   `Serialize` only for types that opt in (`SerializableSecret`).
//!
//! ```
//! use siegel::{protected, CtEq, Dedicated, Protected, Text};
//!
//! #[protected]
//! struct Login {
//!     user: Text<64>,
//!     password: Text<128>,
//! }
//!
//! let mut typed = String::from("hunter2");
//! let login = Protected::<Login>::init_with_in(Dedicated, |l| {
//!     l.user_mut().try_set("alice")?;
//!     l.password_mut().set_from(&mut typed) // copies, then wipes `typed`
//! })?;
//! assert!(login.read()?.password().ct_eq("hunter2"));
//!
//! let token = Protected::<str>::read_from_in(Dedicated, &b"bearer xyz"[..], 1024)?;
//! assert_eq!(token.len(), 10);
//! # Ok::<(), siegel::Error>(())
//! ```
//!
//! # Closures that can fail
//!
//! [`with_read`](Protected::with_read), [`with_write`](Protected::with_write)
//! and [`init_with_in`](Protected::init_with_in) (whose initialiser may also
//! return `()`: [`InitResult`]) return the closure's own `Result<R, E>`, where `E: From<siegel::Error>` (`siegel::Error`,
//! `Box<dyn Error>`, `anyhow::Error`, your own enum): one `?` covers a failed
//! open and the closure's error. Rust infers `E` from the closure's last
//! expression or from the enclosing function's return type; a closure that
//! ends in `Ok(..)` after `?`s has neither, so name the error once:
//!
//! ```
//! use siegel::{Dedicated, Load, Protected};
//!
//! let key = Protected::<[u8; 4]>::init_with_in(Dedicated, |k| {
//!     k.load_hex("00ff10aa")?;
//!     k.reverse();
//!     Ok::<_, siegel::Error>(())
//! })?;
//! // A guard of `[u8; N]` is not a `&[u8]`: a crate that takes one gets
//! // `&key.read()?[..]`, e.g. `Hmac::<Sha256>::new_from_slice(&key.read()?[..])`.
//! fn takes_a_slice(key: &[u8]) -> u8 { key[0] } // stands in for that crate
//! assert_eq!(takes_a_slice(&key.read()?[..]), 0xaa);
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
//! Guards re-seal in `Drop`, which cannot report errors. For a dedicated region
//! re-sealing cannot fail for lack of kernel mappings (its data pages are one
//! mapping of their own, so `mprotect` changes it in place); a pool arena's
//! pages are each a mapping of their own that never merges with its neighbours,
//! for the same reason. If a re-seal fails anyway, the secret is wiped and the
//! handle poisoned ([`Error::Poisoned`] on the next open) rather than left
//! readable — for a pool page, exactly the secrets on that page — and if even
//! that is impossible the process aborts.
//!
//! Leaking a guard (`mem::forget`, `Box::leak`) is safe, as it is for
//! `RefCell`'s, and costs what it holds: the region stays open in the leaking
//! thread (protection keys) or process-wide (page protection) until the handle
//! drops — a pool slot gives its leaked scopes back when it is freed, and a
//! thread that exits gives back the keyed scopes it leaked (after its
//! thread-locals' destructors, so a guard a thread-local keeps is closed by its
//! own drop, once) — and a [`lockdown`] reports the region as deferred until
//! then.
//!
//! # Limits
//!
//! - `RLIMIT_MEMLOCK`: every data page is locked; [`Error::MemoryLock`] names the
//!   limit, or opt in to [`MlockPolicy::BestEffort`].
//! - `vm.max_map_count` (65,530 by default): a dedicated region uses 3 kernel
//!   mappings, a pool arena one per page (18) and none more when its pages open
//!   and close. At the limit, new regions and arenas fail with [`Error::Map`],
//!   which names the sysctl; existing secrets keep opening and closing.
//! - Protection keys: 15 per process. Under [`KeyExhaustion::Virtualize`] a
//!   region without a key takes one back at its next open, and if every key
//!   guards an open region the open fails with [`Error::KeysExhausted`] — never a
//!   silent fallback to page protection, which would open the region to every
//!   thread.
//!
//! # Signals
//!
//! Under protection keys — and only there — siegel sends a signal to other
//! threads of the process. A key's rights live in each thread's PKRU register;
//! before a key that guarded one secret guards another, every thread that might
//! still hold it open must close it, and only that thread can write its PKRU. So
//! siegel runs a *revocation round*: a real-time signal to those threads, whose
//! handler closes the key in the register the thread resumes with. What a
//! program can observe:
//!
//! - **Which signal.** `SIEGEL_SIGNAL=<n>` if set (a real-time signal number),
//!   else the highest real-time signal from `SIGRTMAX - 6` down that has no
//!   handler, chosen at the first keyed secret
//!   ([`thread::revocation_signal`] tells which). A handler the program
//!   installed first is never replaced. One it installs on siegel's signal later
//!   makes the next round fail at once with [`Revocation::SignalTaken`].
//! - **When rounds happen.** siegel takes protection keys from the kernel four
//!   at a time, when it has none to reuse, and keeps them for the process's
//!   life (the rest stay free for other code). Each batch runs one round over
//!   **every** thread (the keys are fresh: other code may have used them) — the
//!   first at the first keyed secret, at most four in all. A new secret takes a
//!   clean key with no round; when none is left, one round closes every key
//!   freed since (by dropped secrets, or taken from a virtualised one) and
//!   reaches only the threads that ever held a keyed scope and the threads
//!   created since those keys were given. Scopes never run rounds, except a
//!   virtualised secret taking a key back after losing it. A program that makes
//!   its first few secrets at start-up sees one round, before its other
//!   threads exist.
//! - **What a round costs the threads it reaches.** A signal handler of a few
//!   hundred instructions. Like any signal, it makes an interruptible system
//!   call that the kernel never restarts — a socket read with a timeout, `poll`,
//!   `epoll_wait`, `select`, `nanosleep`, `sigsuspend` — return `EINTR`
//!   (`ErrorKind::Interrupted`) in the threads it reaches; others restart
//!   (`SA_RESTART`). A thread that never used siegel and existed before the keys
//!   it would have to close were given is never reached. To avoid `EINTR`
//!   entirely: make secrets before starting such threads, keep them for the
//!   process's life (freed keys are what later rounds close), or use page
//!   protection (`SIEGEL_BACKEND=mprotect`), which sends no signal at all.
//! - **What stops a round.** A thread that blocks the signal (a `sigwait`
//!   thread, asleep with it blocked for a second; a running thread that keeps
//!   it blocked, at the deadline below), a full signal queue (`RLIMIT_SIGPENDING`), a thread that does not
//!   answer within 4 s of the last one that did, a handler of the program's on
//!   the signal. The round ends at once (or after the bounded wait) and only
//!   the secret being made fails, with [`Error::Revocation`] naming the thread
//!   or limit and the fix; every secret made before keeps its key, and the key
//!   is tried again for the next one. Another thread making a secret meanwhile
//!   waits while that round makes progress, and at most twice the bound after
//!   its last answer.
//! - **Signal handlers of the program** may open scopes on existing secrets: if
//!   the handler interrupted siegel itself while it held one of its locks, the
//!   open fails at once with [`Error::Reentrant`] instead of deadlocking.
//!   Making secrets allocates and is not async-signal-safe.
//! - **`fork`** at any moment: the child makes and uses its own secrets; the
//!   parent's are not in it (`MADV_DONTFORK`), and the keys they held are the
//!   child's to reuse.
//!
//! # Platforms
//!
//! Linux, macOS, FreeBSD and Windows. Protection keys on Linux x86-64 (Intel
//! since Skylake-SP, AMD since Zen 3); page protection everywhere else
//! (`VirtualProtect` on Windows); `memfd_secret` on Linux 5.14+ (on by default
//! since 6.5). On macOS, FreeBSD and Windows a scope opens the pages to every
//! thread, a pool write or a wipe at free opens a sealed page for a moment
//! (there is no `/proc/self/mem`), and on macOS and Windows nothing keeps
//! secrets out of crash dumps; on Windows the crash wipe is an
//! unhandled-exception filter: [`platform()`] says which protections hold where
//! it runs, and the README has the table. macOS and FreeBSD are compiled in CI,
//! not run; Windows runs its tests under Wine.

#![deny(unsafe_code)]
#![warn(missing_docs)]

// The layers, bottom up (ARCHITECTURE.md draws them): the syscall and asm layer;
// plain values; per-thread key state and the fault guard; typed pages and the
// registry; keys and the scope protocol; regions, pools and a handle's backing;
// the typed layer.
mod access;
mod arch;
mod backing;
mod behind_seal;
mod cpu;
pub mod crash;
mod error;
mod fault;
mod guard;
mod keys;
mod load;
mod macro_support;
mod nest;
mod new;
mod options;
mod pages;
mod perm;
mod pkru;
mod place;
mod platform;
mod pool;
mod protected;
mod random;
mod region;
mod registry;
mod scope;
mod secret;
#[cfg(feature = "serde")]
mod serde_impls;
mod sync;
mod sys;
mod text;
pub mod thread;
mod wipe;

#[cfg(feature = "serde")]
pub use crate::serde_impls::{DeserializeInPlace, InPlace, SerializableSecret};
pub use crate::{
    cpu::{pku_support, PkuSupport},
    error::{Error, Revocation, TransitionError},
    guard::{ReadGuard, WriteGuard},
    load::Load,
    new::InitResult,
    options::{Backend, KeyExhaustion, Mechanism, Memory, MemoryPolicy, MlockPolicy, Options},
    perm::{NoAccess, Permission, ReadOnly, ReadWrite, Readable, Writable, WriteScope},
    place::{Dedicated, Place},
    platform::{platform, Platform},
    pool::{Pool, PoolInfo},
    protected::{Protected, RegionInfo},
    random::{fill_random, AnyBitPattern},
    registry::{lockdown, Lockdown},
    secret::{CtEq, Plain, Secret},
    text::{Bytes, Text},
};
/// The `base64` crate, re-exported for its engines
/// ([`base64::engine::general_purpose::STANDARD`]) used by
/// [`Protected::<[u8]>::from_base64_in`](Protected::from_base64_in).
#[cfg(feature = "base64")]
pub use base64;
/// The `hex` crate, re-exported.
#[cfg(feature = "hex")]
pub use hex;

#[doc(inline)]
pub use siegel_macros::protected;
/// The constant-time comparison traits behind [`CtEq`] and
/// `key.read()?.ct_eq(x)`, re-exported.
pub use subtle;

/// Fault injection into the syscall layer, for the crate's own tests (feature
/// `fault-injection`, never on by default). Not public API.
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod __fault_injection {
    pub use crate::sys::failpoint::{paused, Armed, Call, FailPoint, Injector};
}

/// The crate README's examples, compiled and run as doctests (the README is part
/// of the package, so this holds for the published crate too; the workspace's
/// own README is doctested by the unpublished root package).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Items the code generated by `#[protected]` relies on. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use core;

    pub use static_assertions;

    #[cfg(feature = "serde")]
    pub use serde;

    pub use crate::{
        __siegel_assert_layout as assert_layout,
        __siegel_impl_plain as impl_plain,
        macro_support::{
            field_is_plain, is_the_hidden_field, BuiltOnlyInItsRegion, HiddenField, PlainField,
            PlainFieldAt, MAX_ALIGN,
        },
        // The generated `protect_zeroed`/`protect_with` name the place through
        // here, so that a `crate = "..."` path that re-exports `__private`
        // needs nothing else.
        place::Dedicated,
        secret::Plain,
    };
    pub use crate::{
        __siegel_not_deserialize as not_deserialize, __siegel_with_serde as with_serde,
    };
    #[cfg(feature = "serde")]
    pub use crate::{
        macro_support::{
            deserialize_struct, must_not_deserialize_by_value, ByValueCheck, ByValueFound,
            DeserializeFields, FieldAccess, HasDeserialize, NoDeserialize, NotByValue,
            NotDeserializedByValue, Shape,
        },
        serde_impls::{DeserializeByValue, DeserializeInPlace, InPlaceOnly},
    };
}
