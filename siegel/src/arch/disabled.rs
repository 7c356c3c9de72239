//! Architectures (or Miri) without protection keys: PKU is never selected.

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
