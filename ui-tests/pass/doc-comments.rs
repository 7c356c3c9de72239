// Docs on the struct and fields are kept; field docs become the getters' docs, and
// every generated public item is documented (this crate denies missing docs).
#![deny(missing_docs)]
//! A crate that documents everything.

/// API credentials.
///
/// Kept in protected memory.
#[siegel::protected]
pub struct Credentials {
    /// The key identifier.
    ///
    /// Not secret, but must not change.
    #[protected(frozen)]
    key_id: [u8; 16],
    /// The signing secret.
    secret: [u8; 32],
    // An ordinary comment is not a doc comment.
    uses: u32,
}

/// Entry point.
fn main() -> Result<(), siegel::Error> {
    let creds = Credentials::protect_with(|c| {
        c.key_id = [1; 16];
        c.secret_mut().fill(2);
        *c.uses_mut() = 0;
    })?;
    assert_eq!(creds.read()?.key_id()[0], 1);
    Ok(())
}
