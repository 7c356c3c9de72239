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

/// Byte offset of the PKRU component in the standard (non-compacted) XSAVE
/// layout the kernel writes into signal frames: CPUID leaf 0xD, sub-leaf 9, EBX.
/// `None` if the CPU does not describe it.
pub(crate) fn pkru_xsave_offset() -> Option<usize> {
    const PKRU_COMPONENT: u32 = 9;
    raw_cpuid::CpuId::new()
        .get_extended_state_info()?
        .iter()
        .find(|state| state.subleaf == PKRU_COMPONENT)
        .and_then(|state| usize::try_from(state.offset()).ok())
}

/// Sets `bits` in the PKRU value the kernel saved in a signal frame, so that the
/// interrupted code resumes with those rights taken away (the kernel restores
/// PKRU from the frame's XSAVE area at `sigreturn`). `offset` is
/// [`pkru_xsave_offset`]. Returns whether the frame had an XSAVE area with PKRU.
///
/// The frame layout: `uc_mcontext.fpregs` points at the FXSAVE area; bytes
/// 464..484 are the software-reserved `_fpx_sw_bytes` (magic `FP_XSTATE_MAGIC1`,
/// the XSAVE size); the XSAVE header's `xstate_bv` is at byte 512; PKRU (4 bytes)
/// at `offset`. The same edit the kernel's own pkeys selftest makes
/// (`tools/testing/selftests/mm/protection_keys.c`, `signal_handler`).
///
/// # Safety
///
/// `context` must be the `ucontext_t *` the kernel passed to the running
/// `SA_SIGINFO` handler.
pub(crate) unsafe fn pkru_in_frame_set(
    context: *mut core::ffi::c_void,
    offset: usize,
    bits: u32,
) -> bool {
    const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
    const PKRU_BIT: u64 = 1 << 9;
    // SAFETY:
    // - the caller passes the kernel's `ucontext_t` for this handler invocation.
    let Some(context) = (unsafe { context.cast::<libc::ucontext_t>().as_mut() }) else {
        return false;
    };
    let fpregs = context.uc_mcontext.fpregs.cast::<u8>();
    if fpregs.is_null() {
        return false;
    }
    // The frame, for each access below: the FXSAVE area the kernel wrote is 512 bytes; bytes 464..484 are its
    //   software-reserved words (`struct _fpx_sw_bytes`: `magic1` at 464,
    //   `xstate_size` at 480) [1]; the XSAVE header's `xstate_bv` is the first
    //   word after the legacy area [2]; PKRU lies at `offset < xstate_size`.
    //
    // [1] arch/x86/include/uapi/asm/sigcontext.h
    // [2] Intel SDM vol. 1, 13.4.2 "XSAVE Header"
    //
    // SAFETY:
    // - bytes 464..468 of the kernel's FXSAVE area (above).
    let magic = u32::from_ne_bytes(unsafe { read_bytes(fpregs, 464) });
    // SAFETY: as above.
    let size = u32::from_ne_bytes(unsafe { read_bytes(fpregs, 480) });
    let size = usize::try_from(size).unwrap_or(0);
    if magic != FP_XSTATE_MAGIC1 || offset < 576 || offset + 4 > size {
        return false;
    }
    // SAFETY: as above.
    let xstate_bv = u64::from_ne_bytes(unsafe { read_bytes(fpregs, 512) });
    // A clear `xstate_bv` bit means PKRU is in its initial state (0: every key
    // open): the value is written and the bit set, so the kernel's XRSTOR at
    // sigreturn loads it.
    let current = if xstate_bv & PKRU_BIT == 0 {
        0
    } else {
        // SAFETY: as above.
        u32::from_ne_bytes(unsafe { read_bytes(fpregs, offset) })
    };
    // SAFETY: as above; the frame is ours to edit until sigreturn.
    unsafe { write_bytes(fpregs, offset, (current | bits).to_ne_bytes()) };
    // SAFETY: as above.
    unsafe { write_bytes(fpregs, 512, (xstate_bv | PKRU_BIT).to_ne_bytes()) };
    true
}

/// Reads `N` bytes at `base + offset`.
///
/// # Safety
///
/// The range must be readable.
unsafe fn read_bytes<const N: usize>(base: *const u8, offset: usize) -> [u8; N] {
    // SAFETY:
    // - the caller guarantees the range is readable; `[u8; N]` has alignment 1.
    unsafe { base.wrapping_add(offset).cast::<[u8; N]>().read() }
}

/// Writes `bytes` at `base + offset`.
///
/// # Safety
///
/// The range must be writable and referenced by nothing else.
unsafe fn write_bytes<const N: usize>(base: *mut u8, offset: usize, bytes: [u8; N]) {
    // SAFETY:
    // - the caller guarantees the range is writable; `[u8; N]` has alignment 1.
    unsafe { base.wrapping_add(offset).cast::<[u8; N]>().write(bytes) };
}
