//! Overwriting the stack the signing crates used.
//!
//! The signing crates build key-derived values as locals (see the crate docs
//! for the list); the ones they wrap in zeroize-on-drop types are wiped, the
//! others (a clamped copy of the scalar bytes, the per-signature nonce, field
//! elements of the scalar multiplication) are left in dead stack frames. Each
//! signature runs in a function of its own, and right after it returns, from
//! the same frame, [`stack`] overwrites the stack below that frame — where the
//! signing function's frames were.

/// Bytes of stack to overwrite: well above the depth of one Ed25519 or P-256
/// signature (a few KiB); the memory scan of `examples/tls` checks that no
/// key-derived copy survives.
const SCRUB_BYTES: usize = 32 * 1024;

/// Overwrites [`SCRUB_BYTES`] of stack below the caller's frame with zeros.
///
/// Best effort, without `unsafe`: `black_box` makes the compiler write the
/// zeros, because it cannot prove nothing reads them. It cannot reach copies
/// in registers, in the caller's own frame, or spilled to a signal stack.
#[allow(clippy::large_stack_arrays, reason = "the point: overwrite that much stack")]
#[inline(never)]
pub(crate) fn stack() {
    let mut area = [0u8; SCRUB_BYTES];
    core::hint::black_box(&mut area);
}
