//! A [`rustls`] signing key whose private key lives only in [`siegel`]'s
//! protected memory: Heartbleed-style overreads elsewhere in the process fault
//! instead of leaking it.
//!
//! [`ProtectedSigningKey`] implements [`rustls::sign::SigningKey`] for
//! **Ed25519** and **ECDSA P-256** (`ecdsa_secp256r1_sha256`). Each signature
//! opens one read scope on the key's region, signs inside it with the
//! `RustCrypto` crates (`ed25519-dalek`, `p256`/`ecdsa`), and closes it; at rest
//! the pages are sealed (`mprotect`, or a protection key per region where the
//! CPU has PKU).
//!
//! ```no_run
//! use std::sync::Arc;
//! use siegel_rustls::ProtectedSigningKey;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let cert_chain = vec![];
//! let key = ProtectedSigningKey::from_pkcs8_file("server.key")?; // PEM or DER
//! let certified = rustls::sign::CertifiedKey::new(cert_chain, Arc::new(key));
//! # let _ = certified;
//! # Ok(())
//! # }
//! ```
//!
//! # Loading
//!
//! - [`from_pkcs8_file`](ProtectedSigningKey::from_pkcs8_file): PKCS#8 (PEM
//!   `PRIVATE KEY` or DER), or SEC1 (PEM `EC PRIVATE KEY`, or DER). The file is read
//!   straight into a protected region, PEM is decoded into another, the DER is
//!   parsed in place and only the 32 secret bytes move on, region to region.
//!   A DER structure followed by trailing bytes is an error.
//! - [`from_raw_file`](ProtectedSigningKey::from_raw_file): exactly 32 bytes
//!   (an Ed25519 seed or a big-endian P-256 scalar); 31 or 33 bytes are
//!   [`Error::Length`], never truncated or padded.
//! - [`from_raw`](ProtectedSigningKey::from_raw): from a `Protected<[u8; 32]>`
//!   you already hold; [`generate`](ProtectedSigningKey::generate): the
//!   kernel's RNG writes the secret into its region.
//!
//! # What is kept where
//!
//! In siegel: for Ed25519 the 64-byte expansion `SHA-512(seed)` (scalar bytes
//! and nonce prefix: all that signing needs; the seed itself is not kept), for
//! P-256 the 32-byte scalar. In ordinary memory: the public key, which is not
//! secret.
//!
//! # Copies siegel cannot reach
//!
//! A crate that computes with a key needs it in its own types, on the stack of
//! the signing thread, during the scope. These are made per signature:
//!
//! - **Ed25519** (`ed25519-dalek` `hazmat`): an `ExpandedSecretKey` (the
//!   reduced scalar and the 32-byte nonce prefix) — wiped on drop (`zeroize`);
//!   inside `ExpandedSecretKey::from_bytes`, plain stack copies of both halves
//!   (the clamped scalar bytes, the prefix before it is moved) — not wiped by
//!   dalek; the SHA-512 state that hashes the prefix — wiped on drop (sha2's
//!   `zeroize`); the nonce scalar `r` and the products `k·a` — plain
//!   `Scalar`s, not wiped (`r` with the signature yields the key).
//! - **P-256** (`ecdsa` `hazmat`, RFC 6979): a `NonZeroScalar` — wiped on drop
//!   (held in `Zeroizing`); `d.to_repr()` (the scalar's bytes) handed to
//!   RFC 6979's HMAC-DRBG, whose `K`/`V` state and HMAC keys are derived from
//!   it — the HMAC states wiped on drop (hmac's `zeroize`), the DRBG's own
//!   arrays and the bytes not; the nonce `k`, `k⁻¹` and `r·d` — not wiped.
//! - At load time: the public-key derivation makes the same kinds of copies;
//!   base64 decoding of PEM keeps up to one 3-byte block in its state.
//!
//! Everything not wiped by its crate lives in the stack frames of one
//! function per signature; right after it returns, from the same frame, this
//! crate overwrites 32 KiB of stack below it (`black_box`ed zeros). That is
//! best effort: it cannot reach registers (and what the kernel saves of them),
//! nor copies the compiler leaves while moving a value. `tests/stack.rs`
//! checks it from 64 KiB down a thread's stack (without it, a debug build
//! leaves two copies of the Ed25519 expansion there); the test in
//! `examples/tls` scans the whole process after hundreds of handshakes for the
//! secret and for both halves of `SHA-512(seed)` and finds them only in their
//! regions. Under protection keys, other threads cannot read the region during
//! a scope; they can read the signing thread's stack while it signs, as always.

#![forbid(unsafe_code)]

mod ed25519;
mod error;
mod keyfile;
mod p256;
mod scrub;

use std::{
    fmt::{self, Write as _},
    path::Path,
    sync::Arc,
};

use rustls::{
    pki_types::SubjectPublicKeyInfoDer,
    sign::{Signer, SigningKey},
    SignatureAlgorithm, SignatureScheme,
};
use siegel::Dedicated;
use siegel::Protected;

pub use crate::error::Error;
use crate::{ed25519::Ed25519, p256::P256};

/// The algorithms a [`ProtectedSigningKey`] signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 (RFC 8032), TLS scheme `ed25519`.
    Ed25519,
    /// ECDSA on P-256 with SHA-256, TLS scheme `ecdsa_secp256r1_sha256`.
    EcdsaP256,
}

/// A private key in siegel's protected memory, usable as a rustls
/// [`SigningKey`]. Cloning shares the one region (an `Arc`).
///
/// `Debug` shows the algorithm and the public key, never the secret.
#[derive(Clone)]
pub struct ProtectedSigningKey {
    inner: Arc<Keyed>,
}

/// The key and its precomputed public encodings.
struct Keyed {
    key: Inner,
    spki: Vec<u8>,
}

pub(crate) enum Inner {
    Ed25519(Ed25519),
    P256(P256),
}

/// RFC 8410 `SubjectPublicKeyInfo` for Ed25519, up to the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// RFC 5480 `SubjectPublicKeyInfo` for P-256, up to the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl ProtectedSigningKey {
    fn new(key: Inner) -> Self {
        let spki = match &key {
            Inner::Ed25519(k) => [&ED25519_SPKI_PREFIX[..], k.public()].concat(),
            Inner::P256(k) => [&P256_SPKI_PREFIX[..], k.public()].concat(),
        };
        Self { inner: Arc::new(Keyed { key, spki }) }
    }

    /// A new key whose secret the kernel's RNG writes straight into protected
    /// memory.
    ///
    /// # Errors
    ///
    /// [`Error::Siegel`] if a region cannot be made.
    pub fn generate(algorithm: Algorithm) -> Result<Self, Error> {
        loop {
            let secret = Protected::<[u8; 32]>::init_with_in(Dedicated, siegel::fill_random)?;
            match Self::from_raw(&secret, algorithm) {
                // A P-256 scalar of 0 or >= n: probability ~2^-32; draw again.
                Err(Error::InvalidKey(_)) => {}
                result => return result,
            }
        }
    }

    /// A key from 32 secret bytes you already hold in siegel: an Ed25519 seed
    /// or a big-endian P-256 scalar. They are copied, region to region; drop
    /// `secret` when you no longer need it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] (a P-256 scalar that is 0 or not below the group
    /// order), [`Error::Siegel`].
    pub fn from_raw(secret: &Protected<[u8; 32]>, algorithm: Algorithm) -> Result<Self, Error> {
        secret.with_read(|s| Self::from_raw_bytes(s, algorithm))
    }

    fn from_raw_bytes(secret: &[u8; 32], algorithm: Algorithm) -> Result<Self, Error> {
        Ok(Self::new(match algorithm {
            Algorithm::Ed25519 => Inner::Ed25519(Ed25519::from_seed(secret)?),
            Algorithm::EcdsaP256 => Inner::P256(P256::from_scalar(secret)?),
        }))
    }

    /// A key from a file of exactly 32 raw bytes (an Ed25519 seed or a
    /// big-endian P-256 scalar), read straight into protected memory.
    ///
    /// # Errors
    ///
    /// [`Error::Open`], [`Error::Length`] (the file is not exactly 32 bytes:
    /// trailing bytes are refused), [`Error::InvalidKey`], [`Error::Siegel`].
    pub fn from_raw_file(path: impl AsRef<Path>, algorithm: Algorithm) -> Result<Self, Error> {
        let file = keyfile::read(path.as_ref())?;
        file.with_read(|bytes| {
            Self::from_raw_bytes(keyfile::exact_32("raw key file", bytes)?, algorithm)
        })
    }

    /// A key from a PKCS#8 file (PEM `PRIVATE KEY` or DER; Ed25519 or P-256)
    /// or a SEC1 file (PEM `EC PRIVATE KEY` or DER; P-256), read straight into
    /// protected memory and parsed there.
    ///
    /// # Errors
    ///
    /// [`Error::Open`], [`Error::Pem`], [`Error::Der`] (malformed, or trailing
    /// bytes after the structure), [`Error::Length`] (a private key field of
    /// the wrong length), [`Error::UnsupportedAlgorithm`],
    /// [`Error::InvalidKey`] (also: the file's public key does not match),
    /// [`Error::Siegel`] (also: a file over 16 KiB).
    pub fn from_pkcs8_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::from_pkcs8(&keyfile::read(path.as_ref())?)
    }

    /// As [`from_pkcs8_file`](Self::from_pkcs8_file), from a document (PEM or
    /// DER) already in protected memory.
    ///
    /// # Errors
    ///
    /// As [`from_pkcs8_file`](Self::from_pkcs8_file), without `Open`.
    pub fn from_pkcs8(document: &Protected<[u8]>) -> Result<Self, Error> {
        Ok(Self::new(document.with_read(keyfile::parse_document)?))
    }

    /// Which algorithm this key signs with.
    #[must_use]
    pub fn key_algorithm(&self) -> Algorithm {
        match self.inner.key {
            Inner::Ed25519(_) => Algorithm::Ed25519,
            Inner::P256(_) => Algorithm::EcdsaP256,
        }
    }

    /// The TLS signature scheme this key signs with.
    #[must_use]
    pub fn scheme(&self) -> SignatureScheme {
        match self.inner.key {
            Inner::Ed25519(_) => SignatureScheme::ED25519,
            Inner::P256(_) => SignatureScheme::ECDSA_NISTP256_SHA256,
        }
    }

    /// The raw public key: 32 bytes (Ed25519) or the 65-byte uncompressed
    /// SEC1 point (P-256) — what X.509's `subjectPublicKey` BIT STRING holds.
    #[must_use]
    pub fn public_key_raw(&self) -> &[u8] {
        match &self.inner.key {
            Inner::Ed25519(k) => k.public(),
            Inner::P256(k) => k.public(),
        }
    }

    /// The DER `SubjectPublicKeyInfo`.
    #[must_use]
    pub fn subject_public_key_info(&self) -> &[u8] {
        &self.inner.spki
    }

    /// Signs `message` inside one read scope: the 64-byte Ed25519 signature,
    /// or the DER-encoded ECDSA signature (as TLS and X.509 carry them).
    ///
    /// # Errors
    ///
    /// [`Error::Siegel`] if the scope cannot be opened (for example
    /// `Error::Poisoned` after [`siegel::lockdown`]).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.inner.key {
            Inner::Ed25519(k) => Ok(k.sign(message)?.to_vec()),
            Inner::P256(k) => k.sign(message),
        }
    }

    /// Where the secret's region lies (to skip it in a memory scan, or to
    /// check its mechanism).
    #[must_use]
    pub fn region(&self) -> siegel::RegionInfo {
        match &self.inner.key {
            Inner::Ed25519(k) => k.region(),
            Inner::P256(k) => k.region(),
        }
    }
}

impl fmt::Debug for ProtectedSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public = self.public_key_raw().iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
        f.debug_struct("ProtectedSigningKey")
            .field("algorithm", &self.key_algorithm())
            .field("public_key", &public)
            .field("secret", &format_args!("[REDACTED]"))
            .finish()
    }
}

impl SigningKey for ProtectedSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        if !offered.contains(&self.scheme()) {
            return None;
        }
        let signer: Box<dyn Signer> = Box::new(ProtectedSigner { key: self.clone() });
        Some(signer)
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.subject_public_key_info()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.inner.key {
            Inner::Ed25519(_) => SignatureAlgorithm::ED25519,
            Inner::P256(_) => SignatureAlgorithm::ECDSA,
        }
    }
}

/// The [`Signer`] rustls gets for one handshake: a handle on the same key.
#[derive(Debug)]
pub struct ProtectedSigner {
    key: ProtectedSigningKey,
}

impl Signer for ProtectedSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(self.key.sign(message)?)
    }

    fn scheme(&self) -> SignatureScheme {
        self.key.scheme()
    }
}
