//! Choosing how regions are protected: [`Backend`], [`Options`] and the policies.

use core::{fmt, str::FromStr};
use std::sync::OnceLock;

use crate::{
    cpu::{pku_support, PkuSupport},
    error::Error,
};

/// Which mechanism protects new regions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Protection keys where the CPU and kernel have them, page protection
    /// (`mprotect`) otherwise. The default.
    #[default]
    Auto,
    /// Protection keys, or an [`Error::PkuUnavailable`]: never a silent downgrade.
    Pku,
    /// Page protection with `mprotect`, even where protection keys exist.
    Mprotect,
}

impl Backend {
    /// The name of the environment variable read by [`Backend::from_env`].
    pub const ENV: &'static str = "SIEGEL_BACKEND";

    /// The backend named by `SIEGEL_BACKEND` (`auto`, `pku` or `mprotect`), or
    /// [`Backend::Auto`] when it is unset or empty. Read once per process.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBackend`] for any other value.
    pub fn from_env() -> Result<Self, Error> {
        static FROM_ENV: OnceLock<Result<Backend, String>> = OnceLock::new();
        FROM_ENV
            .get_or_init(|| match std::env::var_os(Self::ENV) {
                None => Ok(Self::Auto),
                Some(value) => value
                    .to_str()
                    .unwrap_or("\u{fffd}")
                    .parse()
                    .map_err(|()| value.to_string_lossy().into_owned()),
            })
            .clone()
            .map_err(|value| Error::InvalidBackend { value })
    }
}

impl FromStr for Backend {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "" | "auto" => Ok(Self::Auto),
            "pku" => Ok(Self::Pku),
            "mprotect" => Ok(Self::Mprotect),
            _ => Err(()),
        }
    }
}

/// What happens when `mlock` cannot pin a region's pages (usually because of
/// `RLIMIT_MEMLOCK`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MlockPolicy {
    /// Fail with [`Error::MemoryLock`]: a secret that may reach swap is not made.
    /// The default.
    #[default]
    Required,
    /// Keep the region unlocked: it may be swapped out. Opt-in degradation for
    /// processes that cannot raise the limit; [`RegionInfo::locked`] tells.
    ///
    /// [`RegionInfo::locked`]: crate::RegionInfo::locked
    BestEffort,
}

/// What a region gets under the PKU backend when all hardware keys are taken
/// (x86-64 has 16 keys; key 0 is the default, so at most 15 are free).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyExhaustion {
    /// Keys are virtualised: the new region takes the key of the least recently
    /// used region that no thread has open, and that region is sealed by page
    /// protection until it gets a key back (on its next open, the same way). If
    /// every keyed region is open, the new region starts on page protection and
    /// asks again on its next open. The default.
    #[default]
    Virtualize,
    /// The region falls back to page protection (`mprotect`) for good; its
    /// [`Mechanism`] says so.
    Fallback,
    /// Fail with [`Error::KeysExhausted`].
    Error,
}

/// Which memory backs a region's data pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MemoryPolicy {
    /// Anonymous private memory, `mlock`ed. The default.
    #[default]
    Anonymous,
    /// `memfd_secret(2)` memory where the kernel offers it (removed from the
    /// kernel's direct map: not even the kernel can read it through its own
    /// mappings, and `/proc/PID/mem` and `process_vm_readv` cannot reach it),
    /// else anonymous memory.
    PreferSecret,
    /// `memfd_secret(2)` memory, or [`Error::SecretMemory`].
    RequireSecret,
}

/// The memory backing one region (see [`MemoryPolicy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Memory {
    /// Anonymous private memory.
    Anonymous,
    /// `memfd_secret(2)` memory, outside the kernel's direct map.
    Secret,
}

/// The mechanism protecting one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// A protection key: opening and sealing write this thread's PKRU register, no
    /// system call; other threads stay locked out while a scope is open.
    ProtectionKey {
        /// The hardware key (1..=15).
        key: u32,
    },
    /// Page protection: opening and sealing call `mprotect`, which affects every
    /// thread of the process.
    PageProtection,
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProtectionKey { key } => write!(f, "protection key {key} (PKU)"),
            // The system call that seals and opens the pages on this OS.
            Self::PageProtection if cfg!(windows) => {
                f.write_str("page protection (VirtualProtect)")
            }
            Self::PageProtection => f.write_str("page protection (mprotect)"),
        }
    }
}

/// How new regions are made: backend, mlock policy and key exhaustion policy.
///
/// A [`Place`](crate::Place): every constructor's `…_in` form makes a dedicated
/// region with the options it is given, and the form without `_in` uses
/// `Options::default()`: backend from `SIEGEL_BACKEND` (else [`Backend::Auto`]),
/// [`MlockPolicy::Required`], [`KeyExhaustion::Virtualize`], [`MemoryPolicy::Anonymous`].
///
/// # Examples
///
/// ```
/// use siegel::{Backend, Mechanism, Options, Protected};
///
/// let key = Protected::<[u8; 32]>::zeroed_in(Options::new().backend(Backend::Mprotect))?;
/// assert_eq!(key.info().mechanism, Mechanism::PageProtection);
/// # Ok::<(), siegel::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub(crate) backend: Option<Backend>,
    pub(crate) mlock: MlockPolicy,
    pub(crate) keys_exhausted: KeyExhaustion,
    pub(crate) memory: MemoryPolicy,
}

impl Options {
    /// The defaults (see the type's docs).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `backend`, overriding `SIEGEL_BACKEND`.
    #[must_use]
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Sets the [`MlockPolicy`].
    #[must_use]
    pub fn mlock(mut self, policy: MlockPolicy) -> Self {
        self.mlock = policy;
        self
    }

    /// Sets the [`KeyExhaustion`] policy.
    #[must_use]
    pub fn on_keys_exhausted(mut self, policy: KeyExhaustion) -> Self {
        self.keys_exhausted = policy;
        self
    }

    /// Sets the [`MemoryPolicy`].
    #[must_use]
    pub fn memory(mut self, policy: MemoryPolicy) -> Self {
        self.memory = policy;
        self
    }

    /// Resolves the backend to use for one new region: `Ok(true)` for protection
    /// keys, `Ok(false)` for page protection.
    pub(crate) fn wants_pku(self) -> Result<bool, Error> {
        let backend = match self.backend {
            Some(backend) => backend,
            None => Backend::from_env()?,
        };
        match backend {
            Backend::Mprotect => Ok(false),
            Backend::Auto => Ok(pku_support().is_available()),
            Backend::Pku => match pku_support() {
                PkuSupport::Available => Ok(true),
                support => Err(Error::PkuUnavailable { support }),
            },
        }
    }
}
