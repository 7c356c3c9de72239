// A struct with named fields: docs, a frozen field, the struct's visibility.
// `examples/protected-expanded.rs` includes the expansion of this file.

/// A wallet.
#[siegel::protected]
pub struct Wallet {
    /// The wallet's seed.
    seed: [u8; 64],
    nonce: u64,
    #[protected(frozen)]
    id: [u8; 16],
}
