//! Key files read straight into protected memory and parsed there.
//!
//! The file is read with `Protected::<[u8]>::read_from` (no heap or stack
//! buffer in between); PEM is decoded into a second protected region; the DER
//! is parsed in place (the parsers borrow, they do not copy), and only the 32
//! secret bytes are copied on, region to region. Both file regions are wiped
//! and unmapped when this returns.

use std::{fs::File, path::Path};

use pkcs8::{
    der::{asn1::OctetStringRef, Decode},
    ObjectIdentifier, PrivateKeyInfoRef,
};
use sec1::EcPrivateKey;
use siegel::Dedicated;
use siegel::Protected;

use crate::{ed25519::Ed25519, p256::P256, Error, Inner};

/// A key file larger than this is refused (a PEM PKCS#8 key is ~250 bytes).
pub(crate) const MAX_KEY_FILE: usize = 16 * 1024;

/// RFC 8410: id-Ed25519.
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// RFC 5480: id-ecPublicKey.
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// RFC 5480: secp256r1 (prime256v1).
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Reads the whole file at `path` into a new region.
pub(crate) fn read(path: &Path) -> Result<Protected<[u8]>, Error> {
    let file = File::open(path).map_err(|source| Error::Open { path: path.to_owned(), source })?;
    Ok(Protected::<[u8]>::read_from_in(Dedicated, file, MAX_KEY_FILE)?)
}

/// `bytes` as exactly 32 bytes.
pub(crate) fn exact_32<'a>(what: &'static str, bytes: &'a [u8]) -> Result<&'a [u8; 32], Error> {
    bytes.try_into().map_err(|_| Error::Length { what, expected: 32, found: bytes.len() })
}

/// A PKCS#8 (PEM `PRIVATE KEY` or DER) or SEC1 (PEM `EC PRIVATE KEY` or DER) key,
/// read inside the caller's scope on `document`.
pub(crate) fn parse_document(document: &[u8]) -> Result<Inner, Error> {
    if !document.trim_ascii_start().starts_with(b"-----BEGIN") {
        // DER: PKCS#8, else SEC1 (what `openssl pkey -outform DER` writes for
        // EC keys); if neither parses, PKCS#8's error.
        return parse_pkcs8(document).or_else(|pkcs8_error| match pkcs8_error {
            Error::Der { .. } => parse_sec1(document, None).map_err(|_| pkcs8_error),
            other => Err(other),
        });
    }
    // Decoded DER is never longer than its PEM.
    let mut der = Protected::<[u8]>::zeroed_slice_in(Dedicated, document.len())?;
    let (label, len) = pem_rfc7468::decode(document, &mut der.write()?)
        .map(|(label, der)| (label, der.len()))
        .map_err(|e| Error::Pem(e.to_string()))?;
    der.with_read(|buf| {
        let der = buf.get(..len).unwrap_or_default();
        match label {
            "PRIVATE KEY" => parse_pkcs8(der),
            "EC PRIVATE KEY" => parse_sec1(der, None),
            other => Err(Error::Pem(format!(
                "label {other:?}, expected \"PRIVATE KEY\" (PKCS#8) or \"EC PRIVATE KEY\" (SEC1)"
            ))),
        }
    })
}

/// A DER PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (RFC 5208, 5958); bytes
/// after it are an error.
fn parse_pkcs8(der: &[u8]) -> Result<Inner, Error> {
    let info = PrivateKeyInfoRef::from_der(der).map_err(der_error("PKCS#8 PrivateKeyInfo"))?;
    let algorithm = info.algorithm.oid;
    if algorithm == ID_ED25519 {
        // RFC 8410: the private key is a CurvePrivateKey, an OCTET STRING.
        let seed = <&OctetStringRef>::from_der(info.private_key.as_bytes())
            .map_err(der_error("Ed25519 CurvePrivateKey"))?;
        let key = Ed25519::from_seed(exact_32("Ed25519 private key", seed.as_bytes())?)?;
        if let Some(public) =
            info.public_key.as_ref().and_then(pkcs8::der::asn1::BitStringRef::as_bytes)
        {
            if public != key.public() {
                return Err(Error::InvalidKey(
                    "the file's Ed25519 public key is not the private key's",
                ));
            }
        }
        Ok(Inner::Ed25519(key))
    } else if algorithm == ID_EC_PUBLIC_KEY {
        let curve = info
            .algorithm
            .parameters_oid()
            .map_err(|e| Error::Der { what: "EC parameters", detail: e.to_string() })?;
        if curve != SECP256R1 {
            return Err(Error::UnsupportedAlgorithm(format!("EC curve {curve}")));
        }
        parse_sec1(info.private_key.as_bytes(), Some(curve))
    } else {
        Err(Error::UnsupportedAlgorithm(algorithm.to_string()))
    }
}

/// A DER SEC1 `ECPrivateKey` (RFC 5915) on P-256; `curve` is the one named
/// outside it (PKCS#8), if any.
fn parse_sec1(der: &[u8], curve: Option<ObjectIdentifier>) -> Result<Inner, Error> {
    let key = EcPrivateKey::from_der(der).map_err(der_error("SEC1 ECPrivateKey"))?;
    match key.parameters.and_then(sec1::EcParameters::named_curve).or(curve) {
        Some(curve) if curve == SECP256R1 => {}
        Some(curve) => return Err(Error::UnsupportedAlgorithm(format!("EC curve {curve}"))),
        None => return Err(Error::UnsupportedAlgorithm("EC key without a named curve".into())),
    }
    let p256 = P256::from_scalar(exact_32("P-256 private key", key.private_key)?)?;
    if let Some(public) = key.public_key {
        if !same_point(public, p256.public()) {
            return Err(Error::InvalidKey("the file's P-256 public key is not the private key's"));
        }
    }
    Ok(Inner::P256(p256))
}

/// Whether the SEC1 point `file` (uncompressed or compressed) is `ours`
/// (uncompressed: `04 || x || y`).
fn same_point(file: &[u8], ours: &[u8]) -> bool {
    match (file.split_first(), ours.split_first()) {
        (Some((&tag @ (2 | 3), x)), Some((4, xy))) => {
            let y_odd = xy.last().is_some_and(|y| y & 1 == 1);
            xy.get(..32) == Some(x) && (tag == 3) == y_odd
        }
        _ => file == ours,
    }
}

fn der_error(what: &'static str) -> impl Fn(pkcs8::der::Error) -> Error {
    move |e| Error::Der { what, detail: e.to_string() }
}
