//! The one error type, [`Error`], and [`TransitionError`], which hands a handle back.

use core::fmt;
use std::io;

use crate::cpu::PkuSupport;

/// Everything that can go wrong when making, opening or changing a protected region.
///
/// Every variant says what failed and what to do about it; [`Display`](fmt::Display)
/// includes the hint.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `mlock` refused to pin the region's pages (the default
    /// [`MlockPolicy::Required`](crate::MlockPolicy::Required) treats that as an
    /// error): the process would exceed `RLIMIT_MEMLOCK`.
    ///
    /// Raise the limit (`ulimit -l`, `LimitMEMLOCK=` in a systemd unit,
    /// `/etc/security/limits.conf`), grant `CAP_IPC_LOCK`, free other regions, or
    /// opt in to [`MlockPolicy::BestEffort`](crate::MlockPolicy::BestEffort).
    MemoryLock {
        /// Bytes this region tried to lock.
        requested: usize,
        /// The soft `RLIMIT_MEMLOCK` in bytes at the time, `None` if unlimited
        /// (on Windows: the minimum working-set size, which bounds `VirtualLock`).
        limit: Option<u64>,
        /// The error `mlock` returned.
        source: io::Error,
    },
    /// The process ran out of address space or of kernel mappings
    /// (`vm.max_map_count`, 65,530 by default): `mmap` could not reserve a region,
    /// or a protection change (`mprotect`, `madvise`) needed a new kernel mapping
    /// and failed with `ENOMEM`. A dedicated region uses three mappings, a pool
    /// arena one per page (18).
    ///
    /// Raise the limit (`sysctl vm.max_map_count=262144`), free regions, or keep
    /// many small secrets in a [`Pool`](crate::Pool).
    Map {
        /// Bytes the mapping needed, guard pages included; 0 when a protection
        /// change on existing pages failed.
        len: usize,
        /// The error `mmap`, `mprotect` or `madvise` returned.
        source: io::Error,
    },
    /// A protection change (`mprotect`, `pkey_mprotect`) or `madvise` failed.
    Protect {
        /// The call that failed.
        call: &'static str,
        /// The error it returned.
        source: io::Error,
    },
    /// The PKU backend was requested (in code or with `SIEGEL_BACKEND=pku`) but this
    /// machine cannot provide it.
    PkuUnavailable {
        /// Why not.
        support: PkuSupport,
    },
    /// Every protection key is taken and none can be freed for this region: at
    /// creation under [`KeyExhaustion::Error`](crate::KeyExhaustion::Error), or when
    /// a scope opens under virtualised keys while all 15 keys guard regions that
    /// are open right now (a scope never falls back to page protection, which
    /// would open the secret to every thread).
    ///
    /// Close a scope or drop a region and retry, or opt into page protection for
    /// good with [`KeyExhaustion::Fallback`](crate::KeyExhaustion::Fallback).
    KeysExhausted,
    /// [`MemoryPolicy::RequireSecret`](crate::MemoryPolicy::RequireSecret) was
    /// asked for but `memfd_secret(2)` failed (kernel before 5.14, or 5.14–6.4
    /// booted without `secretmem.enable=1`, or `RLIMIT_MEMLOCK`).
    SecretMemory {
        /// The error `memfd_secret`, `ftruncate` or `mmap` returned.
        source: io::Error,
    },
    /// A [`Pool`](crate::Pool) reached its
    /// [`max_secrets`](crate::Pool::max_secrets) limit.
    PoolExhausted {
        /// The limit.
        capacity: usize,
    },
    /// Installing a signal handler failed.
    Signal {
        /// The error `sigaction` returned.
        source: io::Error,
    },
    /// `SIEGEL_BACKEND` holds a value other than `auto`, `pku` or `mprotect`.
    InvalidBackend {
        /// The value found.
        value: String,
    },
    /// The secret is larger than the address space can describe.
    TooLarge {
        /// Elements requested.
        len: usize,
    },
    /// The type needs a stricter alignment than a page gives.
    AlignmentTooLarge {
        /// The type's alignment.
        align: usize,
        /// The page size.
        page: usize,
    },
    /// A canary next to the secret was overwritten: something wrote just below
    /// the secret (a buffer underflow) or, for a pooled secret, a write scope on
    /// this secret wrote past its end into the next slot. The canaries' bytes are
    /// random and never zero, so any change to one of them is seen, a zero byte
    /// included. The secret stays sealed; drop it.
    CanaryCorrupted,
    /// The region was wiped (re-sealing failed, or a lockdown ran): its contents are
    /// gone and it can no longer be opened.
    Poisoned,
    /// The kernel's random number generator (`getrandom`) failed.
    Random {
        /// The error `getrandom` returned.
        source: io::Error,
    },
    /// Text handed to a text secret ([`Protected<str>`](crate::Protected),
    /// [`Text`](crate::Text)) is not valid UTF-8. Whatever was already copied
    /// into protected memory has been wiped.
    ///
    /// Load the secret as bytes (`Protected<[u8]>`, [`Bytes`](crate::Bytes))
    /// instead, or fix the encoding at the source.
    InvalidUtf8 {
        /// Bytes of valid UTF-8 before the first invalid sequence (the offset of
        /// the error; no byte of the secret is included).
        valid_up_to: usize,
    },
    /// Input does not fit a fixed-capacity secret ([`Text<N>`](crate::Text),
    /// [`Bytes<N>`](crate::Bytes), `Protected<[u8; N]>`): nothing was changed.
    ///
    /// Use a larger capacity `N`, or a run-time sized `Protected<[u8]>` /
    /// `Protected<str>`.
    CapacityExceeded {
        /// Bytes the operation needed in total.
        len: usize,
        /// Bytes the secret can hold.
        capacity: usize,
    },
    /// A stream (a reader, a deserializer) held more than the limit passed to
    /// the load. The bytes read so far were wiped and unmapped.
    ///
    /// Raise the limit if the input is legitimate; otherwise the source is not
    /// what it should be (a wrong file, a hostile peer).
    LimitExceeded {
        /// The limit in bytes.
        limit: usize,
    },
    /// The reader failed partway. The bytes read so far were wiped and unmapped.
    Read {
        /// Bytes read before the failure.
        read: usize,
        /// The error the reader returned.
        source: io::Error,
    },
    /// The reader ended before a fixed-size secret was complete (a truncated key
    /// file, a closed socket). The bytes read so far were wiped and unmapped.
    ShortRead {
        /// Bytes the secret needs.
        expected: usize,
        /// Bytes the reader gave before it ended.
        read: usize,
    },
    /// The input goes on past the `expected` bytes of a fixed-size secret (a
    /// `[u8; N]` loaded with [`Load`](crate::Load)), which must be the whole
    /// input: a key file with a trailing newline, or the wrong file. Nothing is
    /// truncated; what was read has been wiped.
    ///
    /// Strip the input to exactly the secret (`printf '%s'`, not `echo`; `head
    /// -c`), or load input of variable length into a `Bytes<N>` or a
    /// `Protected<[u8]>`.
    TrailingInput {
        /// Bytes the secret takes.
        expected: usize,
    },
    /// Encoded input (hex, base64) is malformed, or decodes to a length the
    /// secret cannot take. The partially decoded bytes were wiped and unmapped.
    /// No character of the input is included: it is as secret as the key.
    Decode {
        /// `"hex"` or `"base64"`.
        encoding: &'static str,
        /// Offset of the offending character in the input, where the decoder
        /// reports one.
        offset: Option<usize>,
        /// What is wrong, in a few words.
        reason: &'static str,
    },
    /// The environment variable a secret was to be loaded from is not set.
    EnvVarMissing {
        /// The variable's name.
        name: String,
    },
    /// A protection key could not be closed in every thread that might hold it
    /// open, so it was not handed to this region (see [`Revocation`] for why
    /// and what to do). Nothing else changed: every secret made before keeps
    /// its key and works; the key is tried again for the next region.
    Revocation(Revocation),
    /// The secret was made by this process's parent, before the `fork` that
    /// made this process: `fork` leaves no copy of a secret in the child (its
    /// pages are `MADV_DONTFORK`), so there is nothing here to open. Create the
    /// secrets the child needs after forking (the child's own work normally).
    Forked,
    /// A scope was opened, or a secret made, from a signal handler that
    /// interrupted this thread while it was inside siegel (holding one of its
    /// locks): going on would deadlock. Nothing changed; open the scope outside
    /// the handler, or retry.
    Reentrant,
}

/// Why a revocation round — the signal siegel sends to the threads that may
/// hold a protection key open, so that each closes it before the key guards a
/// new region — could not complete. See the crate docs, "Signals".
#[derive(Debug)]
#[non_exhaustive]
pub enum Revocation {
    /// A thread blocks the revocation signal (a "signal thread" that blocks
    /// every signal and calls `sigwait`, for example) and must take part: it
    /// slept with the signal blocked for a second, or kept it blocked while
    /// running until the round's deadline (4 s after the last answer; a thread
    /// being created or inside a handler blocks it for a moment, and is waited
    /// for).
    ///
    /// Unblock `signal` in that thread, start it after the first secret is made
    /// (a thread that existed before a key was first opened, and never opened
    /// one, is not asked), choose the signal with `SIEGEL_SIGNAL`, or use page
    /// protection (`SIEGEL_BACKEND=mprotect`).
    SignalBlocked {
        /// The thread's id.
        tid: i32,
        /// The thread's name.
        name: String,
        /// The revocation signal.
        signal: i32,
    },
    /// The kernel refused to queue the signal (`EAGAIN`): the user's pending
    /// signals reached `RLIMIT_SIGPENDING` (`ulimit -i`), which counts every
    /// process of the user.
    ///
    /// Raise the limit, or find what leaves real-time signals pending.
    SignalQueueFull {
        /// The thread the signal was for.
        tid: i32,
        /// The revocation signal.
        signal: i32,
    },
    /// A thread got the signal but did not answer in time (stopped, traced,
    /// or starved of CPU).
    NoAnswer {
        /// The thread's id.
        tid: i32,
        /// The thread's name.
        name: String,
        /// How long siegel waited.
        waited: core::time::Duration,
    },
    /// Another handler holds the revocation signal: `SIEGEL_SIGNAL` names a
    /// signal the program already handles, or the program installed a handler
    /// on siegel's signal after siegel took it.
    ///
    /// Choose a free real-time signal with `SIEGEL_SIGNAL`, or leave siegel's
    /// handler in place.
    SignalTaken {
        /// The signal.
        signal: i32,
    },
    /// `SIEGEL_SIGNAL` is not a real-time signal number (`SIGRTMIN..=SIGRTMAX`).
    InvalidSignal {
        /// The value found.
        value: String,
    },
    /// Every real-time signal siegel may use already has a handler.
    NoFreeSignal,
    /// `/proc/self/task` could not be read: without the thread list no key can
    /// be closed everywhere. Mount `/proc`, or raise the descriptor limit.
    ThreadList {
        /// The error listing it returned.
        source: io::Error,
    },
    /// `sigaction` refused to install the revocation handler.
    Handler {
        /// The error `sigaction` returned.
        source: io::Error,
    },
    /// `tgkill` failed for another reason.
    Tgkill {
        /// The thread.
        tid: i32,
        /// The error `tgkill` returned.
        source: io::Error,
    },
    /// Another thread's round (or new threads appearing faster than a round can
    /// reach them) did not end within the bound siegel waits. Retry.
    Busy,
}

impl fmt::Display for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignalBlocked { tid, name, signal } => write!(
                f,
                "thread {tid} ({name}) blocks signal {signal}, which siegel sends to close a \
                 protection key in every thread that may hold it; unblock it there, start that \
                 thread after the first secret, choose another signal with SIEGEL_SIGNAL, or use \
                 SIEGEL_BACKEND=mprotect"
            ),
            Self::SignalQueueFull { tid, signal } => write!(
                f,
                "the kernel would not queue signal {signal} for thread {tid} (EAGAIN): pending \
                 signals reached RLIMIT_SIGPENDING (ulimit -i), which counts every process of \
                 this user; raise it or find what leaves signals pending"
            ),
            Self::NoAnswer { tid, name, waited } => write!(
                f,
                "thread {tid} ({name}) did not answer siegel's revocation signal within {} ms \
                 (stopped, traced or starved); retry, or use SIEGEL_BACKEND=mprotect",
                waited.as_millis()
            ),
            Self::SignalTaken { signal } => write!(
                f,
                "signal {signal} has a handler that is not siegel's; choose a free real-time \
                 signal with SIEGEL_SIGNAL, or leave siegel's handler in place"
            ),
            Self::InvalidSignal { value } => write!(
                f,
                "SIEGEL_SIGNAL={value:?} is not a real-time signal number (SIGRTMIN..=SIGRTMAX)"
            ),
            Self::NoFreeSignal => f.write_str(
                "every real-time signal siegel may use has a handler; free one and name it with \
                 SIEGEL_SIGNAL",
            ),
            Self::ThreadList { source } => write!(
                f,
                "cannot list this process's threads in /proc/self/task ({source}); mount /proc \
                 or raise the descriptor limit"
            ),
            Self::Tgkill { tid, source } => write!(f, "tgkill to thread {tid} failed: {source}"),
            Self::Handler { source } => {
                write!(f, "cannot install the revocation signal's handler: {source}")
            }
            Self::Busy => f.write_str(
                "another revocation round, or threads appearing faster than a round reaches \
                 them, did not end in time; retry",
            ),
        }
    }
}

impl fmt::Display for Error {
    #[allow(clippy::too_many_lines, reason = "one arm per variant, each a message with its fix")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MemoryLock { requested, limit, source } => {
                write!(
                    f,
                    "cannot lock {requested} bytes in memory ({source}); {} is ",
                    crate::sys::MEMLOCK_LIMIT_NAME
                )?;
                match limit {
                    Some(limit) => write!(f, "{limit} bytes")?,
                    None => f.write_str("unlimited")?,
                }
                write!(f, ": {}", crate::sys::MEMLOCK_LIMIT_HINT)
            }
            Self::Map { len: 0, source } => write!(
                f,
                "a protection change needed a new kernel mapping ({source}): address space \
                 or vm.max_map_count exhausted; raise vm.max_map_count \
                 (`sysctl vm.max_map_count=262144`), free regions, or use a Pool"
            ),
            Self::Map { len, source } => write!(
                f,
                "cannot map {len} bytes ({source}): address space or vm.max_map_count \
                 exhausted (each region uses 3 mappings); raise vm.max_map_count \
                 (`sysctl vm.max_map_count=262144`), free regions, or use a Pool"
            ),
            Self::Protect { call, source } => write!(f, "{call} failed: {source}"),
            Self::PkuUnavailable { support } => write!(
                f,
                "the PKU backend was requested but is unavailable: {support}; use \
                 SIEGEL_BACKEND=auto or Backend::Auto to fall back to mprotect"
            ),
            Self::KeysExhausted => f.write_str(
                "all 15 protection keys guard regions that are open right now; close a scope or \
                 drop a region and retry, or opt into page protection (KeyExhaustion::Fallback), \
                 which opens a region to every thread during its scopes",
            ),
            Self::SecretMemory { source } => write!(
                f,
                "memfd_secret memory is unavailable ({source}): it needs Linux 5.14+ (before 6.5 \
                 booted with secretmem.enable=1) and RLIMIT_MEMLOCK room; or use \
                 MemoryPolicy::PreferSecret to fall back to anonymous memory"
            ),
            Self::Signal { source } => write!(f, "sigaction failed: {source}"),
            Self::Revocation(cause) => write!(
                f,
                "no protection key could be given to this secret: {cause} (every other secret \
                 keeps working)"
            ),
            Self::Forked => f.write_str(
                "this secret belongs to the parent process: fork left no copy of it in this \
                 child (its pages are MADV_DONTFORK); create the secrets the child needs after \
                 forking",
            ),
            Self::Reentrant => f.write_str(
                "a signal handler interrupted this thread inside siegel (holding one of its \
                 locks); open the scope outside the handler, or retry",
            ),
            Self::PoolExhausted { capacity } => write!(
                f,
                "the pool holds its maximum of {capacity} secrets; drop some or raise \
                 Pool::max_secrets"
            ),
            Self::InvalidBackend { value } => {
                write!(f, "SIEGEL_BACKEND={value:?} is not one of `auto`, `pku`, `mprotect`")
            }
            Self::TooLarge { len } => {
                write!(f, "a secret of {len} elements does not fit in memory")
            }
            Self::AlignmentTooLarge { align, page } => write!(
                f,
                "alignment {align} exceeds the page size {page}: lower the type's alignment"
            ),
            Self::CanaryCorrupted => f.write_str(
                "a canary next to the secret was overwritten (a buffer underflow, or an \
                 overflow by a write scope on this secret); the secret stays sealed",
            ),
            Self::Poisoned => f.write_str(
                "the region was wiped (failed re-seal or lockdown) and cannot be opened",
            ),
            Self::Random { source } => write!(f, "getrandom failed: {source}"),
            Self::InvalidUtf8 { valid_up_to } => write!(
                f,
                "the text secret is not valid UTF-8 (invalid sequence after byte \
                 {valid_up_to}); what was copied has been wiped. Load it as bytes \
                 (Protected<[u8]>, Bytes<N>) or fix the encoding at the source"
            ),
            Self::CapacityExceeded { len, capacity } => write!(
                f,
                "{len} bytes do not fit a secret of capacity {capacity}; nothing was changed. \
                 Use a larger capacity N (Text<N>, Bytes<N>) or a run-time sized \
                 Protected<[u8]> / Protected<str>"
            ),
            Self::LimitExceeded { limit } => write!(
                f,
                "the input holds more than the limit of {limit} bytes; what was read has been \
                 wiped. Raise the limit if the input is legitimate, or check the source"
            ),
            Self::Read { read, source } => write!(
                f,
                "reading the secret failed after {read} bytes ({source}); what was read has \
                 been wiped. Retry the load from the start"
            ),
            Self::ShortRead { expected, read } => write!(
                f,
                "the input ended after {read} of the {expected} bytes the secret needs \
                 (truncated file or closed stream); what was read has been wiped"
            ),
            Self::TrailingInput { expected } => write!(
                f,
                "the input goes on past the {expected} bytes the secret takes (a trailing \
                 newline in a key file, or the wrong file?); nothing was truncated and what \
                 was read has been wiped. The input must be exactly the secret"
            ),
            Self::Decode { encoding, offset, reason } => {
                write!(f, "invalid {encoding} input: {reason}")?;
                if let Some(offset) = offset {
                    write!(f, " at offset {offset}")?;
                }
                f.write_str(
                    "; what was decoded has been wiped. Check the encoded secret (whitespace, \
                     line breaks, the alphabet, padding) at its source",
                )
            }
            Self::EnvVarMissing { name } => write!(
                f,
                "the environment variable {name} is not set; set it, or load the secret from \
                 a file or stdin instead"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::MemoryLock { source, .. }
            | Self::Map { source, .. }
            | Self::Protect { source, .. }
            | Self::SecretMemory { source }
            | Self::Signal { source }
            | Self::Random { source }
            | Self::Read { source, .. } => Some(source),
            Self::Revocation(cause) => Some(cause),
            _ => None,
        }
    }
}

impl std::error::Error for Revocation {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ThreadList { source }
            | Self::Handler { source }
            | Self::Tgkill { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A by-value transition failed: the [`Error`], and the handle, unchanged, so no
/// secret is lost because a system call failed.
///
/// Converting it into [`Error`] (for example with `?`) drops the handle, which wipes
/// the secret; call [`into_handle`](Self::into_handle) to keep it.
pub struct TransitionError<H> {
    error: Error,
    handle: H,
}

impl<H> TransitionError<H> {
    pub(crate) fn new(error: Error, handle: H) -> Self {
        Self { error, handle }
    }

    /// The reason the transition failed.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The handle, in the state it had before the transition.
    pub fn into_handle(self) -> H {
        self.handle
    }

    /// Both parts.
    pub fn into_parts(self) -> (Error, H) {
        (self.error, self.handle)
    }
}

impl<H> fmt::Debug for TransitionError<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitionError").field("error", &self.error).finish_non_exhaustive()
    }
}

impl<H> fmt::Display for TransitionError<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transition failed, handle returned unchanged: {}", self.error)
    }
}

impl<H> std::error::Error for TransitionError<H> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<H> From<TransitionError<H>> for Error {
    fn from(err: TransitionError<H>) -> Self {
        err.error
    }
}
