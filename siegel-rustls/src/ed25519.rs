//! Ed25519 (RFC 8032) with the expanded secret key in protected memory.
//!
//! At load time the 32-byte seed is expanded once, protected memory to
//! protected memory, into `SHA-512(seed)` = the clamped scalar's bytes and the
//! nonce prefix; only that 64-byte expansion is kept (the seed is not needed
//! to sign). Each signature opens a read scope on it, builds dalek's
//! `ExpandedSecretKey` (wiped on drop, `zeroize` feature) and signs with
//! `hazmat::raw_sign` — no SHA-512 of the seed and no base-point
//! multiplication for the public key per signature, unlike
//! `SigningKey::from_bytes(seed).sign(..)`.

use ed25519_dalek::{
    hazmat::{raw_sign, ExpandedSecretKey},
    VerifyingKey,
};
use sha2::{digest::array::Array, Digest, Sha512};
use siegel::Dedicated;
use siegel::Protected;

use crate::{scrub, Error};

/// An Ed25519 key: the secret expansion sealed in siegel, the public key
/// (not secret) in ordinary memory.
pub(crate) struct Ed25519 {
    expanded: Protected<[u8; 64]>,
    public: VerifyingKey,
}

impl Ed25519 {
    /// Expands `seed` (read inside the caller's scope) into a new region.
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Result<Self, Error> {
        let expanded = Protected::<[u8; 64]>::init_with_in(Dedicated, |out| {
            // `finalize_into` writes the digest straight into the open region;
            // the SHA-512 state (the seed in its block buffer) is wiped on
            // drop with sha2's `zeroize` feature.
            Sha512::new().chain_update(seed).finalize_into(Array::cast_from_core_mut(out));
        })?;
        let public = {
            let e = expanded.read()?;
            let public = derive_public(&e);
            scrub::stack();
            public
        };
        Ok(Self { expanded, public })
    }

    /// The 32-byte public key.
    pub(crate) fn public(&self) -> &[u8; 32] {
        self.public.as_bytes()
    }

    /// The 64-byte signature over `message`, made inside one read scope.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<[u8; 64], Error> {
        let e = self.expanded.read()?;
        let signature = sign_with(&e, message, &self.public);
        scrub::stack();
        Ok(signature)
    }

    /// The region holding the expansion.
    pub(crate) fn region(&self) -> siegel::RegionInfo {
        self.expanded.info()
    }
}

#[inline(never)]
fn derive_public(expanded: &[u8; 64]) -> VerifyingKey {
    let esk = ExpandedSecretKey::from_bytes(expanded);
    VerifyingKey::from(&esk)
}

#[inline(never)]
fn sign_with(expanded: &[u8; 64], message: &[u8], public: &VerifyingKey) -> [u8; 64] {
    let esk = ExpandedSecretKey::from_bytes(expanded);
    raw_sign::<Sha512>(&esk, message, public).to_bytes()
}
