//! What `#[protected]` generates, simplified by hand and commented, so that the
//! layout and the checks can be read without running `cargo expand`.
//!
//! The input:
//!
//! ```rust
//! #[siegel::protected]
//! pub struct Wallet {
//!     /// The wallet's seed.
//!     seed: [u8; 64],
//!     nonce: u64,
//!     #[protected(frozen)]
//!     id: [u8; 16],
//! }
//! ```
//!
//! Everything below is what the macro emits for it, minus the `#[allow(...)]`
//! lists, the `#[doc]` strings and the absolute `::core::…` paths it uses for
//! hygiene. Run it with `cargo run --example protected-expanded`.

use siegel::{Error, Protected};

// ----------------------------------------------------------------------------
// 1. The struct: `repr(C)` for a fixed, padding-explicit layout, the fields as
//    written (attributes such as docs kept, `#[protected(...)]` removed), and a
//    hidden zero-sized last field whose type nobody outside siegel can build. It
//    makes a struct literal impossible everywhere, even in this module, so a
//    `Wallet` only ever exists zero-filled inside a region. It is not `Clone`,
//    `Copy` or `Default`, so neither is `Wallet`.
// ----------------------------------------------------------------------------

/// A wallet (the user's docs).
#[repr(C)]
pub struct Wallet {
    /// The wallet's seed.
    seed: [u8; 64],
    nonce: u64,
    id: [u8; 16],
    #[doc(hidden)]
    __siegel_in_place: siegel::__private::InPlace,
}

// ----------------------------------------------------------------------------
// 2. `Plain`: the promise that lets `Protected<Wallet>` exist. One bound per
//    field *type* (spanned on the field, so `bytes: Vec<u8>` fails right there
//    with "`Vec<u8>` cannot be a field of a #[protected] struct"). For a
//    concrete type the bounds are checked here, at the definition.
// ----------------------------------------------------------------------------

// SAFETY:
// - every field is `PlainField`, hence `Plain` (the bounds; `InPlace` is too):
//   valid all-zero, no pointer, no drop glue, no interior mutability; padding may
//   hold anything, so all-zero is valid for the `repr(C)` struct;
// - `Wallet` has no `Drop` impl (the coherence check in section 6).
unsafe impl siegel::__private::Plain for Wallet
where
    [u8; 64]: siegel::__private::PlainField,
    u64: siegel::__private::PlainField,
    [u8; 16]: siegel::__private::PlainField,
{
}

// A `#[protected]` struct may itself be a field of another one.
impl siegel::__private::PlainField for Wallet
where
    [u8; 64]: siegel::__private::PlainField,
    u64: siegel::__private::PlainField,
    [u8; 16]: siegel::__private::PlainField,
{
}

// ----------------------------------------------------------------------------
// 3. A redacted `Debug`: never the secret.
// ----------------------------------------------------------------------------

impl core::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Wallet([REDACTED])")
    }
}

// ----------------------------------------------------------------------------
// 4. Accessors, with the struct's visibility. A getter per field (`&self`: any
//    read scope) and a `_mut` per field that is not frozen (`&mut self`: only a
//    `WriteGuard` or a `ReadWrite` handle derefs mutably, so under `ReadOnly`
//    the call does not compile). The field's docs become the getter's.
// ----------------------------------------------------------------------------

impl Wallet {
    /// The wallet's seed.
    #[inline]
    #[must_use]
    pub const fn seed(&self) -> &[u8; 64] {
        &self.seed
    }

    /// Mutable access to the `seed` field, in a write scope.
    #[inline]
    pub const fn seed_mut(&mut self) -> &mut [u8; 64] {
        &mut self.seed
    }

    /// The `nonce` field.
    #[inline]
    #[must_use]
    pub const fn nonce(&self) -> &u64 {
        &self.nonce
    }

    /// Mutable access to the `nonce` field, in a write scope.
    #[inline]
    pub const fn nonce_mut(&mut self) -> &mut u64 {
        &mut self.nonce
    }

    /// The `id` field. Frozen: there is no `id_mut`; only code that sees the
    /// (necessarily private) field itself can set it, during initialisation.
    #[inline]
    #[must_use]
    pub const fn id(&self) -> &[u8; 16] {
        &self.id
    }
}

// ----------------------------------------------------------------------------
// 5. Constructors: the only ways to get a `Wallet`, both inside a new region.
//    Same bounds as the `Plain` impl, so a bad field is reported once.
// ----------------------------------------------------------------------------

impl Wallet {
    /// A new region holding an all-zero `Wallet`, sealed.
    ///
    /// # Errors
    ///
    /// The region could not be mapped, locked or protected.
    #[inline]
    pub fn protect_zeroed() -> Result<Protected<Self>, Error> {
        Protected::<Self>::zeroed()
    }

    /// A new region whose `Wallet` is initialised in place by `init`.
    ///
    /// # Errors
    ///
    /// The region could not be mapped, locked or protected.
    #[inline]
    pub fn protect_with(init: impl FnOnce(&mut Self)) -> Result<Protected<Self>, Error> {
        Protected::<Self>::init_with(init)
    }
}

// ----------------------------------------------------------------------------
// 6. Checks, evaluated at compile time.
// ----------------------------------------------------------------------------

// No `Drop` impl: if `Wallet` had one, the blanket impl would overlap the one for
// `Wallet` ("conflicting implementations of trait
// `ProtectedStructMustNotImplementDrop`").
#[allow(dead_code, reason = "the trait exists only to be implemented")]
const _: () = {
    trait ProtectedStructMustNotImplementDrop {}
    #[allow(drop_bounds, reason = "the point of the check")]
    impl<T: Drop> ProtectedStructMustNotImplementDrop for T {}
    impl ProtectedStructMustNotImplementDrop for Wallet {}
};

// Layout: alignment at most 4096 (the smallest page), and never below a field's
// (a `repr(packed)` that slipped past the macro would fail here). For a struct
// with const parameters this runs in the constructors, per instance.
const _: () = siegel::__private::assert_layout!(Wallet; [u8; 64], u64, [u8; 16]);

// ----------------------------------------------------------------------------
// Using it exactly as the macro's output would be used.
// ----------------------------------------------------------------------------

fn main() -> Result<(), Error> {
    let mut wallet = Wallet::protect_with(|w| {
        w.seed_mut().fill(0x5e);
        w.id = *b"wallet-0000-0001"; // the frozen field, set where it is visible
    })?;
    *wallet.write()?.nonce_mut() += 1;

    let guard = wallet.read()?;
    println!("{:?}: id {:?}, nonce {}", *guard, guard.id(), guard.nonce());
    assert_eq!(guard.seed()[0], 0x5e);
    println!("layout: {} bytes, aligned to {}", size_of::<Wallet>(), align_of::<Wallet>());
    Ok(())
}
