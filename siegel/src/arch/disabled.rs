//! Targets (or Miri) without protection keys: PKU is never selected.

/// `(PKU, OSPKE)`: never, this target has no protection keys.
pub(crate) fn cpu_pku_flags() -> (bool, bool) {
    (false, false)
}

/// Unreachable: the PKU backend is never selected on this target.
///
/// # Safety
///
/// Never called; kept so callers need no `cfg`.
#[inline]
pub(crate) unsafe fn rdpkru() -> u32 {
    unreachable!("siegel: no protection keys on this target")
}

/// Unreachable: the PKU backend is never selected on this target.
///
/// # Safety
///
/// Never called; kept so callers need no `cfg`.
#[inline]
pub(crate) unsafe fn wrpkru(_pkru: u32) {
    unreachable!("siegel: no protection keys on this target")
}

/// `None`: no protection keys on this target.
pub(crate) fn pkru_xsave_offset() -> Option<usize> {
    None
}

/// Never called: there is no PKRU on this target.
///
/// # Safety
///
/// None needed; kept so callers need no `cfg`.
pub(crate) unsafe fn pkru_in_frame_set(_: *mut core::ffi::c_void, _: usize, _: u32) -> bool {
    false
}
