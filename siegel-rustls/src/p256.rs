//! ECDSA P-256 with SHA-256 (the TLS scheme `ecdsa_secp256r1_sha256`), the
//! secret scalar in protected memory.
//!
//! Each signature opens a read scope on the 32-byte scalar, builds a
//! `NonZeroScalar` from it (held in `Zeroizing`, wiped on drop) and signs the
//! SHA-256 digest with a deterministic RFC 6979 nonce
//! (`ecdsa::hazmat::sign_prehashed_rfc6979`): no public-key multiplication per
//! signature, unlike building a `p256::ecdsa::SigningKey` each time.

use ecdsa::hazmat::sign_prehashed_rfc6979;
use p256::{
    elliptic_curve::{FieldBytes, NonZeroScalar},
    NistP256, PublicKey,
};
use sha2::{digest::array::Array, Digest, Sha256};
use siegel::Dedicated;
use siegel::Protected;
use zeroize::Zeroizing;

use crate::{scrub, Error};

/// A P-256 key: the scalar sealed in siegel, the public point (uncompressed
/// SEC1, 65 bytes) in ordinary memory.
pub(crate) struct P256 {
    scalar: Protected<[u8; 32]>,
    public: Box<[u8]>,
}

impl P256 {
    /// Copies the big-endian scalar `d` (read inside the caller's scope) into
    /// a new region, after checking that `0 < d < n`.
    pub(crate) fn from_scalar(d: &[u8; 32]) -> Result<Self, Error> {
        let public = public_of(d).ok_or(Error::InvalidKey("P-256 scalar is 0 or not below n"))?;
        let scalar = Protected::<[u8; 32]>::init_with_in(Dedicated, |s| s.copy_from_slice(d))?;
        Ok(Self { scalar, public })
    }

    /// The uncompressed SEC1 public point (`04 || x || y`).
    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }

    /// The DER-encoded signature over `message`, made inside one read scope.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let digest = Sha256::digest(message);
        let d = self.scalar.read()?;
        let signature = sign_with(&d, &digest);
        scrub::stack();
        signature.ok_or(Error::InvalidKey("P-256 scalar is 0 or not below n"))
    }

    /// The region holding the scalar.
    pub(crate) fn region(&self) -> siegel::RegionInfo {
        self.scalar.info()
    }
}

/// `d` as a scalar, wiped when dropped; `None` unless `0 < d < n`.
fn scalar_of(d: &[u8; 32]) -> Option<Zeroizing<NonZeroScalar<NistP256>>> {
    let repr: &FieldBytes<NistP256> = Array::cast_from_core(d);
    Option::from(NonZeroScalar::<NistP256>::from_repr(*repr)).map(Zeroizing::new)
}

#[inline(never)]
fn public_of(d: &[u8; 32]) -> Option<Box<[u8]>> {
    let public = scalar_of(d).map(|d| PublicKey::from_secret_scalar(&d).to_sec1_bytes());
    scrub::stack();
    public
}

#[inline(never)]
fn sign_with(d: &[u8; 32], digest: &[u8]) -> Option<Vec<u8>> {
    let d = scalar_of(d)?;
    let (signature, _) = sign_prehashed_rfc6979::<NistP256, Sha256>(&d, digest, &[]);
    Some(signature.to_der().as_bytes().to_vec())
}
