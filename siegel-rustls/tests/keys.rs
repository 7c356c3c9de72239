//! Loading: known answers (RFC 8032, RFC 8410, keys made by OpenSSL), exact
//! lengths, malformed and unsupported files; signing through rustls's traits.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use ed25519_dalek::Signature;
use p256::ecdsa::{signature::Verifier as _, DerSignature, VerifyingKey};
use rustls::{sign::SigningKey as _, SignatureAlgorithm, SignatureScheme};
use siegel_rustls::{Algorithm, Error, ProtectedSigningKey};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The fixtures of `tests/keys/`, compiled in: the test binary also runs in
/// the PKU VM, which has no copy of the source tree.
fn fixture(name: &str) -> &'static [u8] {
    match name {
        "rfc8410-ed25519.pem" => include_bytes!("keys/rfc8410-ed25519.pem"),
        "p256-pkcs8.pem" => include_bytes!("keys/p256-pkcs8.pem"),
        "p256-pkcs8.der" => include_bytes!("keys/p256-pkcs8.der"),
        "p256-sec1.pem" => include_bytes!("keys/p256-sec1.pem"),
        "p256-sec1.der" => include_bytes!("keys/p256-sec1.der"),
        "p256.pub.hex" => include_bytes!("keys/p256.pub.hex"),
        other => panic!("no fixture {other}"),
    }
}

/// A fixture as a file, as users load keys.
fn fixture_file(name: &str) -> Scratch {
    scratch_file(fixture(name))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A temporary file of `bytes`, removed when dropped.
struct Scratch(PathBuf);

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn scratch_file(bytes: &[u8]) -> Scratch {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name =
        format!("siegel-rustls-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    Scratch(path)
}

/// RFC 8032 §7.1 TEST 1.
const TEST1_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const TEST1_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const TEST1_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

#[test]
fn raw_ed25519_file_rfc8032_test1() -> TestResult {
    let key =
        ProtectedSigningKey::from_raw_file(scratch_file(&hex(TEST1_SEED)), Algorithm::Ed25519)?;
    assert_eq!(key.public_key_raw(), &hex(TEST1_PUBLIC)[..]);
    assert_eq!(key.sign(b"")?, hex(TEST1_SIGNATURE));
    assert!(!format!("{key:?}").contains(&TEST1_SEED[..16]));
    Ok(())
}

#[test]
fn raw_file_must_be_exactly_32_bytes() {
    for len in [0, 31, 33, 64] {
        let mut bytes = hex(TEST1_SEED);
        bytes.resize(len, 7);
        let err = ProtectedSigningKey::from_raw_file(scratch_file(&bytes), Algorithm::Ed25519)
            .expect_err("wrong length accepted");
        assert!(
            matches!(err, Error::Length { expected: 32, found, .. } if found == len),
            "{len} bytes: {err}"
        );
    }
}

#[test]
fn pkcs8_pem_ed25519_rfc8410() -> TestResult {
    let key = ProtectedSigningKey::from_pkcs8_file(fixture_file("rfc8410-ed25519.pem"))?;
    assert_eq!(key.key_algorithm(), Algorithm::Ed25519);
    assert_eq!(
        key.public_key_raw(),
        &hex("19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1")[..]
    );
    let public = ed25519_dalek::VerifyingKey::try_from(key.public_key_raw())?;
    let sig = Signature::from_slice(&key.sign(b"hello")?)?;
    public.verify_strict(b"hello", &sig)?;
    Ok(())
}

#[test]
fn p256_pkcs8_and_sec1_pem_and_der_are_the_same_key() -> TestResult {
    let public = hex(std::str::from_utf8(fixture("p256.pub.hex"))?);
    let verifier = VerifyingKey::from_sec1_bytes(&public)?;
    for file in ["p256-pkcs8.pem", "p256-pkcs8.der", "p256-sec1.pem", "p256-sec1.der"] {
        let key = ProtectedSigningKey::from_pkcs8_file(fixture_file(file))?;
        assert_eq!(key.key_algorithm(), Algorithm::EcdsaP256, "{file}");
        assert_eq!(key.public_key_raw(), &public[..], "{file}");
        let sig = DerSignature::try_from(&key.sign(b"hello")?[..])?;
        verifier.verify(b"hello", &sig)?;
        assert!(verifier.verify(b"hellO", &sig).is_err());
    }
    Ok(())
}

#[test]
fn der_with_trailing_bytes_is_refused() {
    for file in ["p256-pkcs8.der", "p256-sec1.der"] {
        let mut der = fixture(file).to_vec();
        der.push(0);
        let err = ProtectedSigningKey::from_pkcs8_file(scratch_file(&der)).expect_err(file);
        assert!(matches!(err, Error::Der { .. }), "{file}: {err}");
    }
}

/// RFC 8410 PKCS#8 v1 for Ed25519, up to the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

#[test]
fn pkcs8_der_ed25519_and_its_malformed_twins() -> TestResult {
    let der = [&ED25519_PKCS8_PREFIX[..], &hex(TEST1_SEED)].concat();
    let key = ProtectedSigningKey::from_pkcs8_file(scratch_file(&der))?;
    assert_eq!(key.public_key_raw(), &hex(TEST1_PUBLIC)[..]);

    // X25519 (1.3.101.110): a key agreement key, not a signing key.
    let mut x25519 = der.clone();
    x25519[11] = 0x6e;
    let err = ProtectedSigningKey::from_pkcs8_file(scratch_file(&x25519)).expect_err("X25519");
    assert!(matches!(err, Error::UnsupportedAlgorithm(_)), "{err}");

    // Truncated.
    let err = ProtectedSigningKey::from_pkcs8_file(scratch_file(&der[..40])).expect_err("short");
    assert!(matches!(err, Error::Der { .. }), "{err}");

    // A PEM with a label that is not a private key.
    let pem = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    let err = ProtectedSigningKey::from_pkcs8_file(scratch_file(pem)).expect_err("label");
    assert!(matches!(err, Error::Pem(_)), "{err}");

    let err = ProtectedSigningKey::from_pkcs8_file("/nonexistent/key.pem").expect_err("missing");
    assert!(matches!(err, Error::Open { .. }), "{err}");
    Ok(())
}

#[test]
fn rustls_traits() -> TestResult {
    for algorithm in [Algorithm::Ed25519, Algorithm::EcdsaP256] {
        let key = ProtectedSigningKey::generate(algorithm)?;
        let (scheme, sig_algorithm) = match algorithm {
            Algorithm::Ed25519 => (SignatureScheme::ED25519, SignatureAlgorithm::ED25519),
            _ => (SignatureScheme::ECDSA_NISTP256_SHA256, SignatureAlgorithm::ECDSA),
        };
        assert_eq!(key.algorithm(), sig_algorithm);
        assert!(key.choose_scheme(&[SignatureScheme::RSA_PSS_SHA256]).is_none());
        let signer = key
            .choose_scheme(&[SignatureScheme::RSA_PSS_SHA256, scheme])
            .expect("offered scheme chosen");
        assert_eq!(signer.scheme(), scheme);
        assert!(!signer.sign(b"transcript")?.is_empty());
        assert_eq!(key.public_key().expect("SPKI").as_ref(), key.subject_public_key_info());
    }
    Ok(())
}
