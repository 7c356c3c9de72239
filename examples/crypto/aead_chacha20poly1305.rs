//! ChaCha20-Poly1305 (`chacha20poly1305`) with the key in protected memory,
//! and a secret payload that is only ever plaintext inside protected memory.
//!
//! - **encrypt**: the plaintext is read from a protected slice and the
//!   ciphertext written to an ordinary `Vec` in one pass
//!   (`AeadInOut::encrypt_inout_detached` with separate input and output
//!   buffers), so no plaintext copy is made outside siegel;
//! - **decrypt**: the ciphertext is copied into a fresh protected slice and
//!   decrypted in place there. The tag is checked first; a forged message is
//!   rejected before a single byte is decrypted.
//!
//! The key goes to the cipher as `&key[..]` of a read guard — the form for any
//! crate that takes a key as `&[u8]` (`new_from_slice(&key.read()?[..])`): a
//! guard derefs to `[u8; 32]`, and indexing it gives the slice.
//!
//! Copies `chacha20poly1305` makes, outside siegel: `ChaCha20Poly1305::new_from_slice`
//! copies the 32-byte key into the cipher value, and each call builds a
//! `ChaCha20` state from it and derives a one-time Poly1305 key — all on the
//! stack. The cipher value is built and dropped inside the key's read scope;
//! with the crate's `zeroize` feature (enabled in `examples/crypto/Cargo.toml`)
//! the key copy, the `ChaCha20` state and the derived Poly1305 key
//! are wiped. The Poly1305 state, which holds that one-time key (enough to
//! forge messages under this nonce), is wiped only if `poly1305`'s own
//! `zeroize` feature is on, which `chacha20poly1305` does not enable.
//!
//! The program checks RFC 8439's AEAD test vector (section 2.8.2) both ways,
//! checks that a tampered ciphertext and a tampered tag are rejected, and
//! exits non-zero on any mismatch.
//!
//! ```text
//! cargo run --release --example aead_chacha20poly1305
//! ```

use siegel::CtEq;
use std::{error::Error as StdError, process::ExitCode};

use chacha20poly1305::{aead::inout::InOutBuf, AeadInOut, ChaCha20Poly1305, KeyInit, Nonce, Tag};
use siegel::Dedicated;
use siegel::Protected;

/// RFC 8439, section 2.8.2.
mod rfc8439 {
    pub(crate) const KEY: &str = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
    /// The 32-bit constant `07000000` followed by the 64-bit IV.
    pub(crate) const NONCE: &str = "070000004041424344454647";
    pub(crate) const AAD: &str = "50515253c0c1c2c3c4c5c6c7";
    pub(crate) const PLAINTEXT: &[u8] = b"Ladies and Gentlemen of the class of '99: \
        If I could offer you only one tip for the future, sunscreen would be it.";
    pub(crate) const CIPHERTEXT: &str = "\
        d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6\
        3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36\
        92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
        3ff4def08e4b7a9de576d26586cec64b6116";
    pub(crate) const TAG: &str = "1ae10b594f09e26a7e902ecbd0600691";
}

/// A key decoded from hex straight into protected memory (exactly 64 digits).
fn load_key(key_hex: &str) -> Result<Protected<[u8; 32]>, siegel::Error> {
    Protected::<[u8; 32]>::from_hex_in(Dedicated, key_hex)
}

/// Encrypts the protected `plaintext` into a new `Vec`: ciphertext and tag.
fn encrypt(
    key: &Protected<[u8; 32]>,
    nonce: &Nonce,
    aad: &[u8],
    plaintext: &Protected<[u8]>,
) -> Result<(Vec<u8>, Tag), Box<dyn StdError>> {
    let key = key.read()?; // the read scope: until `key` drops, after `cipher`
    let cipher = ChaCha20Poly1305::new_from_slice(&key[..])?; // copies the key; wiped on drop
    let p = plaintext.read()?;
    let mut ciphertext = vec![0; p.len()];
    let tag = cipher.encrypt_inout_detached(nonce, aad, InOutBuf::new(&p, &mut ciphertext)?)?;
    Ok((ciphertext, tag))
}

/// Decrypts `ciphertext` into a new protected slice, in place, after checking
/// `tag`. The plaintext never exists outside protected memory.
fn decrypt(
    key: &Protected<[u8; 32]>,
    nonce: &Nonce,
    aad: &[u8],
    ciphertext: &[u8],
    tag: &Tag,
) -> Result<Protected<[u8]>, Box<dyn StdError>> {
    let mut plaintext =
        Protected::<[u8]>::init_slice_with_in(Dedicated, ciphertext.len(), |buffer| {
            buffer.copy_from_slice(ciphertext);
        })?;
    {
        let key = key.read()?;
        let cipher = ChaCha20Poly1305::new_from_slice(&key[..])?;
        let mut buffer = plaintext.write()?;
        cipher.decrypt_inout_detached(nonce, aad, InOutBuf::from(&mut buffer[..]), tag)?;
    } // the scopes close here, the cipher's key copy wiped first
    Ok(plaintext)
}

/// `true` if decryption failed because the message is not authentic (and not,
/// say, because a region could not be made).
fn rejected(result: Result<Protected<[u8]>, Box<dyn StdError>>) -> bool {
    result.is_err_and(|error| error.is::<chacha20poly1305::Error>())
}

fn known_answers() -> Result<(), Box<dyn StdError>> {
    let key = load_key(rfc8439::KEY)?;
    let nonce = Nonce::try_from(hex::decode(rfc8439::NONCE)?.as_slice())?;
    let aad = hex::decode(rfc8439::AAD)?;
    let expected_tag = Tag::try_from(hex::decode(rfc8439::TAG)?.as_slice())?;

    // Encrypt: the test plaintext stands in for a secret, so it goes into
    // protected memory first (a real secret would be generated or decoded
    // there).
    let secret = Protected::<[u8]>::init_slice_with_in(Dedicated, rfc8439::PLAINTEXT.len(), |p| {
        p.copy_from_slice(rfc8439::PLAINTEXT);
    })?;
    let (ciphertext, tag) = encrypt(&key, &nonce, &aad, &secret)?;
    let got = hex::encode(&ciphertext);
    if got != rfc8439::CIPHERTEXT {
        return Err(format!(
            "RFC 8439 2.8.2: ciphertext is {got}, expected {}",
            rfc8439::CIPHERTEXT
        )
        .into());
    }
    if tag != expected_tag {
        return Err(format!(
            "RFC 8439 2.8.2: tag is {}, expected {}",
            hex::encode(tag),
            rfc8439::TAG
        )
        .into());
    }
    println!("RFC 8439 2.8.2 encrypt: ciphertext and tag ok");

    // Decrypt the RFC's ciphertext (not ours) into protected memory, and
    // compare in constant time.
    let decrypted = decrypt(&key, &nonce, &aad, &hex::decode(rfc8439::CIPHERTEXT)?, &expected_tag)?;
    if !decrypted.read()?.ct_eq(rfc8439::PLAINTEXT) {
        return Err("RFC 8439 2.8.2: decryption does not give the plaintext".into());
    }
    println!("RFC 8439 2.8.2 decrypt: plaintext ok ({decrypted:?})");

    // Forgeries: one flipped bit in the ciphertext, then in the tag.
    let mut forged = ciphertext.clone();
    forged[0] ^= 1;
    if !rejected(decrypt(&key, &nonce, &aad, &forged, &tag)) {
        return Err("a tampered ciphertext was not rejected".into());
    }
    let mut forged_tag = tag;
    forged_tag[15] ^= 0x80;
    if !rejected(decrypt(&key, &nonce, &aad, &ciphertext, &forged_tag)) {
        return Err("a tampered tag was not rejected".into());
    }
    println!("RFC 8439 2.8.2 forgeries: rejected");
    Ok(())
}

fn main() -> ExitCode {
    match known_answers() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("aead_chacha20poly1305: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo test --workspace` checks the same vectors (the example is built as a
/// test too: `test = true` in its package's Cargo.toml).
#[test]
fn rfc_8439_known_answers() -> Result<(), Box<dyn StdError>> {
    known_answers()
}
