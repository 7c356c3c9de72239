// The expansion is clean under strict rustc lints in the user's crate.
#![deny(
    warnings,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    unused,
    unused_qualifications,
    unused_results,
    single_use_lifetimes,
    trivial_casts,
    trivial_numeric_casts,
    unsafe_code,
    rust_2018_idioms,
    unnameable_types,
    variant_size_differences
)]
//! Strict.

mod private {
    /// In a private module: `pub` here is unreachable, and so are the accessors;
    /// the user allows it for the struct, and the expansion adds no warning.
    #[siegel::protected]
    #[allow(unreachable_pub, reason = "the user's choice")]
    pub struct Hidden {
        bytes: [u8; 8],
    }

    /// Used so that the struct is not dead code.
    pub(crate) fn touch() -> bool {
        Hidden::protect_zeroed().is_ok()
    }
}

/// A public protected struct none of whose accessors are called.
#[siegel::protected]
pub struct Unused {
    /// Bytes.
    bytes: [u8; 8],
    /// A counter.
    #[protected(frozen)]
    counter: u64,
}

/// A public newtype none of whose accessors are called.
#[siegel::protected]
pub struct Newtype(
    /// Bytes.
    [u8; 8],
);

/// A public tuple struct none of whose accessors are called.
#[siegel::protected]
pub struct Tuple(
    /// Bytes.
    [u8; 8],
    /// A counter.
    #[protected(frozen)]
    u64,
);

/// A public struct deserialized in place, never deserialized.
#[siegel::protected(deserialize)]
pub struct Config {
    /// A password.
    password: siegel::Text<16>,
    /// A key.
    key: [u8; 8],
}

/// A public newtype deserialized in place, never deserialized.
#[siegel::protected(deserialize)]
pub struct Key(
    /// Bytes.
    [u8; 8],
);

/// Entry point.
fn main() {
    assert!(private::touch());
}
