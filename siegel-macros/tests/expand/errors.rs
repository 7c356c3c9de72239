// After errors: the struct, its accessors and the accepted derives are still
// emitted (so the rest of the crate type-checks), the Plain impl, constructors and
// layout check are not.

#[siegel::protected]
#[derive(Clone, Hash, zeroize::Zeroize)]
struct Key {
    bytes: Vec<u8>,
    count: u64,
    #[cfg(feature = "extra")]
    extra: u8,
}
