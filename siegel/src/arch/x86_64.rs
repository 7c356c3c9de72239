//! x86-64: `RDPKRU`, `WRPKRU` and CPUID leaf 7.
//!
//! PKRU holds two bits per protection key `k`: bit `2k` is Access-Disable (AD),
//! bit `2k + 1` Write-Disable (WD). It is per thread (saved with XSAVE on context
//! switch), so writing it changes only the calling thread's rights.
//!
//! ```text
//!  31 30 29 28        ...          3  2  1  0
//! +-----+-----+                  +-----+-----+
//! |WD15 |AD15 |       ...        | WD1 | AD1 | WD0 | AD0 |
//! +-----+-----+                  +-----+-----+
//! ```
//!
//! # Safety
//!
//! Both instructions raise #UD unless CR4.PKE is set, so they are only reached once
//! [`cpu_pku_flags`] reported both bits *and* the kernel handed out a key (which proves
//! CR4.PKE: the kernel sets it when it supports pkeys).

use std::arch::asm;

/// CPUID leaf 7 ECX: `(PKU, OSPKE)`—whether the CPU has protection keys, and
/// whether the OS enabled them by setting CR4.PKE.
pub(crate) fn cpu_pku_flags() -> (bool, bool) {
    raw_cpuid::CpuId::new()
        .get_extended_feature_info()
        .map_or((false, false), |f| (f.has_pku(), f.has_ospke()))
}

/// `RDPKRU`: reads the calling thread's PKRU register.
///
/// Precondition (met here): ECX must be 0; EDX is clobbered.
///
/// # Safety
///
/// CR4.PKE must be set (see the module docs), otherwise the instruction faults
/// with #UD.
#[inline]
pub(crate) unsafe fn rdpkru() -> u32 {
    let pkru: u32;
    // SAFETY:
    // - the caller guarantees CR4.PKE is set, so RDPKRU does not raise #UD [1];
    // - ECX is zeroed as RDPKRU requires; EDX is declared clobbered [1];
    // - RDPKRU reads only a register, hence `nomem` [1].
    //
    // [1] Intel SDM vol. 2B, "RDPKRU—Read Protection Key Rights for User Pages"
    unsafe {
        asm!(
            "rdpkru",
            in("ecx") 0u32,
            out("eax") pkru,
            out("edx") _,
            options(nomem, nostack, preserves_flags),
        );
    }
    pkru
}

/// `WRPKRU`: writes the calling thread's PKRU register.
///
/// Precondition (met here): ECX and EDX must be 0. Deliberately *not* `nomem`:
/// changing PKRU changes which memory accesses fault, so the compiler must not move
/// loads or stores of protected memory across it. The asm block is a full
/// compiler barrier.
///
/// # Safety
///
/// CR4.PKE must be set (see the module docs), and taking access away must not
/// strand a live reference that will be used afterwards (that access would fault).
#[inline]
pub(crate) unsafe fn wrpkru(pkru: u32) {
    // SAFETY:
    // - the caller guarantees CR4.PKE is set, so WRPKRU does not raise #UD [1];
    // - ECX and EDX are zero as WRPKRU requires, or it raises #GP [1];
    // - without `nomem` the block is a compiler barrier for memory accesses [2].
    //
    // [1] Intel SDM vol. 2D, "WRPKRU—Write Data to User Page Key Register"
    // [2] The Rust Reference, "Inline assembly", options
    unsafe {
        asm!(
            "wrpkru",
            in("eax") pkru,
            in("ecx") 0u32,
            in("edx") 0u32,
            options(nostack, preserves_flags),
        );
    }
}
