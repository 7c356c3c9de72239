//! Ed25519 signatures (`ed25519-dalek`) from a seed kept in protected memory.
//!
//! The 32-byte seed — what RFC 8032 calls the private key — is hex-decoded
//! straight into a `Protected<[u8; 32]>` and only ever read inside a scope.
//! Each signature is made in its own read scope: a `SigningKey` is built from
//! the seed, signs, and is dropped before the scope closes.
//!
//! **What the dalek key copy means.** `SigningKey::from_bytes` copies the seed
//! into the `SigningKey` value, and signing expands it (SHA-512) into an
//! `ExpandedSecretKey` — the secret scalar and the nonce prefix. Both are
//! ordinary values on the stack, outside siegel's pages: not `mlock`ed, not
//! sealed, readable by any thread while they live. dalek's `zeroize` feature
//! (enabled in `examples/crypto/Cargo.toml`) wipes them when they drop, so
//! keep the `SigningKey` inside the scope, as `sign` below does, and never
//! store one. What zeroize-on-drop cannot reach: copies the compiler leaves
//! behind when it moves a value, and the SHA-512 output the expansion is read
//! from. Rebuilding the key for every signature costs one SHA-512 and one
//! base-point multiplication (tens of microseconds).
//!
//! The program checks RFC 8032's Ed25519 test vectors (section 7.1: TEST 1,
//! 2, 3 and SHA(abc)) — public key and signature — and exits non-zero on a
//! mismatch.
//!
//! ```text
//! cargo run --release --example ed25519_signing
//! ```

use std::{error::Error as StdError, process::ExitCode};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use siegel::Dedicated;
use siegel::Protected;

/// RFC 8032, section 7.1: secret key, public key, message, signature (hex).
/// The 1023-byte TEST 1024 is left out for length.
const RFC_8032: [(&str, &str, &str, &str, &str); 4] = [
    (
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "TEST SHA(abc)",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
];

/// Decodes a hex seed straight into a new protected region (no copy on the
/// stack: the decoder writes into the open pages).
fn load_seed(seed_hex: &str) -> Result<Protected<[u8; 32]>, siegel::Error> {
    Protected::<[u8; 32]>::from_hex_in(Dedicated, seed_hex)
}

/// The public key: not secret, so it may live anywhere once derived.
fn verifying_key(seed: &Protected<[u8; 32]>) -> Result<VerifyingKey, siegel::Error> {
    Ok(SigningKey::from_bytes(&*seed.read()?).verifying_key())
}

/// Signs `message` in a read scope; the `SigningKey` (a copy of the seed, see
/// the module docs) is dropped — and zeroized by dalek — before the scope ends.
fn sign(seed: &Protected<[u8; 32]>, message: &[u8]) -> Result<Signature, siegel::Error> {
    let seed = seed.read()?;
    let key = SigningKey::from_bytes(&seed);
    Ok(key.sign(message))
}

fn known_answers() -> Result<(), Box<dyn StdError>> {
    for (name, secret, public, message, signature) in RFC_8032 {
        let seed = load_seed(secret)?;
        let message = hex::decode(message)?;

        let public_key = verifying_key(&seed)?;
        let got = hex::encode(public_key.as_bytes());
        if got != public {
            return Err(format!("RFC 8032 {name}: public key is {got}, expected {public}").into());
        }

        let sig = sign(&seed, &message)?;
        let got = hex::encode(sig.to_bytes());
        if got != signature {
            return Err(format!("RFC 8032 {name}: signature is {got}, expected {signature}").into());
        }
        public_key.verify_strict(&message, &sig)?;

        // A signature over another message must not verify.
        let mut other = message.clone();
        other.push(0);
        if public_key.verify_strict(&other, &sig).is_ok() {
            return Err(format!("RFC 8032 {name}: signature verifies a different message").into());
        }
        println!("RFC 8032 {name}: ok");
    }
    Ok(())
}

fn demo() -> Result<(), Box<dyn StdError>> {
    // A real seed comes from a CSPRNG or a key file, decoded into protected
    // memory as `load_seed` does; the RFC's TEST 1 seed stands in for it here.
    let seed = load_seed(RFC_8032[0].1)?;
    println!("seed {seed:?}, protected by {}", seed.info().mechanism);

    let public_key = verifying_key(&seed)?;
    let release =
        b"release v1.2.3 sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let sig = sign(&seed, release)?;
    public_key.verify_strict(release, &sig)?;
    println!("public key {}", hex::encode(public_key.as_bytes()));
    println!("signature  {}", hex::encode(sig.to_bytes()));
    Ok(())
}

fn main() -> ExitCode {
    match known_answers().and_then(|()| demo()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ed25519_signing: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo test --workspace` checks the same vectors (the example is built as a
/// test too: `test = true` in its package's Cargo.toml).
#[test]
fn rfc_8032_known_answers() -> Result<(), Box<dyn StdError>> {
    known_answers()
}
