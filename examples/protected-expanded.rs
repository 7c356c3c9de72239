//! What `#[protected]` generates, as the macro really emits it: the items below the
//! header are `siegel-macros/tests/expand/wallet.expanded.rs`, the expansion
//! snapshot of
//!
//! ```rust
//! /// A wallet.
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
//! included verbatim. The snapshot test of siegel-macros fails whenever the
//! expansion changes, so this example cannot drift from the macro. Run it with
//! `cargo run --example protected-expanded`; read the included file for the code.
//!
//! What each item does, in the order the macro emits them:
//!
//! 1. **The struct**: `repr(C)` for a fixed layout, the fields as written (docs
//!    kept, `#[protected(...)]` removed), and a hidden zero-sized last field whose
//!    type nobody outside siegel can build. It makes a struct literal impossible
//!    everywhere, even in the defining module, so a `Wallet` only ever exists
//!    zero-filled inside a region. It is not `Clone`, `Copy` or `Default`.
//! 2. **One `PlainFieldAt<I>` impl per field**, `type Field = FieldTy;`. siegel's
//!    trait requires `Field: PlainField`, so a field that is not plain data (a
//!    `Vec`, an atomic, a reference, even behind an alias) fails on the field with
//!    "`Vec<u8>` cannot be a field of a #[protected] struct". Checked where the
//!    struct is defined, for every value of a const parameter too.
//! 3. **`impl_plain!`**, a declarative macro of siegel's
//!    (`siegel/src/macro_support.rs`, `__siegel_impl_plain`) that writes the
//!    `unsafe impl siegel::Plain for Wallet`, the promise that lets
//!    `Protected<Wallet>` exist, next to the checks that justify it: an exhaustive
//!    `Self { seed, nonce, id, __siegel_in_place }` pattern (every field, and only
//!    a struct), each field's real type, inferred from the struct, required to be
//!    the `Field` of its `PlainFieldAt` impl, the hidden field required to be
//!    siegel's own, and no `Drop` impl on `Wallet` (a blanket impl over `T: Drop`
//!    would overlap the one for `Wallet`). All its paths are `$crate`, which no
//!    `#[protected(crate = "...")]`, local `mod siegel` or shadowed `core` can
//!    redirect, and it trusts nothing in its input, so calling it by hand cannot
//!    forge an impl either. The proc macro itself writes no `unsafe`.
//! 4. **`PlainField` for `Wallet`**: a protected struct may be a field of another.
//! 5. **A redacted `Debug`**: never the secret.
//! 6. **Accessors**, with the struct's visibility: a getter per field (`&self`:
//!    any read scope) and a `_mut` per field that is not frozen (`&mut self`: only
//!    a `WriteGuard` or a `ReadWrite` handle derefs mutably, so under `ReadOnly`
//!    the call does not compile). The field's docs become the getter's.
//! 7. **Constructors**, the only ways to get a `Wallet`, both inside a new region.
//! 8. **The layout check**, at compile time: alignment at most 4096 (the smallest
//!    page) and never below a field's (a `repr(packed)` that slipped past the
//!    macro would fail here). For a struct with const parameters it runs in the
//!    constructors, per instance.
//!
//! The code is macro output compiled as if written by hand, so it also shows that
//! the expansion is clean under the workspace's lints (clippy pedantic included)
//! where rustc and clippy do not skip it as macro output.

include!("../siegel-macros/tests/expand/wallet.expanded.rs");

// ----------------------------------------------------------------------------
// Using it exactly as the macro's output would be used.
// ----------------------------------------------------------------------------

fn main() -> Result<(), siegel::Error> {
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
