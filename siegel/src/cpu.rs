//! Detects, once, whether this machine can protect regions with protection keys.

use core::fmt;
use std::{io, sync::OnceLock};

use crate::{arch, sys};

/// Whether protection keys (PKU) are usable here, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PkuSupport {
    /// CPUID reports PKU and OSPKE and the kernel handed out a key.
    Available,
    /// CPUID leaf 7 lacks PKU (the CPU or hypervisor hides it).
    NoCpuFeature,
    /// The CPU has PKU but the OS did not enable it (CPUID lacks OSPKE).
    NotEnabledByOs,
    /// CPUID says yes but `pkey_alloc` failed with this errno (`ENOSYS`: kernel
    /// without pkeys; `EINVAL`/`ENOSPC`: pkeys disabled, or every key taken).
    KernelRefused {
        /// The `errno` from `pkey_alloc`.
        errno: i32,
    },
    /// This target has no protection keys (only Linux on x86-64 does; arm64's
    /// POE is not supported yet), or the program runs under Miri.
    UnsupportedTarget,
}

impl PkuSupport {
    /// `true` if the PKU backend can be used.
    #[must_use]
    pub fn is_available(self) -> bool {
        self == Self::Available
    }
}

impl fmt::Display for PkuSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Available => f.write_str("protection keys available"),
            Self::NoCpuFeature => f.write_str("the CPU does not report PKU (CPUID.7.0:ECX[3])"),
            Self::NotEnabledByOs => {
                f.write_str("the OS did not enable protection keys (CPUID.7.0:ECX[4] OSPKE)")
            }
            Self::KernelRefused { errno } => write!(
                f,
                "the kernel refused pkey_alloc ({})",
                io::Error::from_raw_os_error(*errno)
            ),
            Self::UnsupportedTarget if cfg!(miri) => {
                f.write_str("no protection keys under Miri (its shim has page protection only)")
            }
            Self::UnsupportedTarget => {
                let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
                write!(
                    f,
                    "no protection keys on {os} {arch}: siegel has them on Linux x86-64 only (PKU)"
                )?;
                if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
                    f.write_str("; arm64's POE (Linux 6.12+) is not supported yet")?;
                }
                Ok(())
            }
        }
    }
}

/// Detects PKU support once per process and caches the answer.
///
/// CPUID leaf 7 must report PKU and OSPKE (any vendor: Intel and AMD both ship
/// PKU), then a real `pkey_alloc` must succeed; the probe key is freed at once.
pub fn pku_support() -> PkuSupport {
    static SUPPORT: OnceLock<PkuSupport> = OnceLock::new();
    *SUPPORT.get_or_init(detect)
}

fn detect() -> PkuSupport {
    if !sys::HAS_PROTECTION_KEYS || cfg!(miri) {
        return PkuSupport::UnsupportedTarget;
    }
    match arch::cpu_pku_flags() {
        (false, _) => return PkuSupport::NoCpuFeature,
        (true, false) => return PkuSupport::NotEnabledByOs,
        (true, true) => {}
    }
    match sys::pkey_alloc(sys::PkeyRights::DISABLE_ACCESS) {
        Ok(key) => {
            // A failed free only leaks one key of a probe; nothing is tagged with it.
            let _ = sys::pkey_free(key);
            PkuSupport::Available
        }
        Err(err) => PkuSupport::KernelRefused { errno: err.raw_os_error().unwrap_or(0) },
    }
}
