//! Hex and base64 decoded straight into protected memory: into the fields of
//! a `#[protected]` struct and into a `Bytes<N>`, with siegel's field loaders
//! ([`siegel::Load`]: `load_hex`, `load_base64`, `load_env`, `load_from`).
//!
//! Keys usually arrive encoded — in an environment variable, a config file, a
//! secrets manager's response. Decoding them into a `Vec` first leaves a
//! plaintext copy on the heap that nothing wipes. The loaders decode into the
//! field you hold in a write scope (or an initialiser), so the decoded bytes
//! exist only in the region's pages; a `[u8; N]` takes exactly `N` bytes, and
//! on any error the field is wiped. (The *encoded* input is as secret as the
//! key; where it comes from — the environment, a file read into a `String` —
//! is outside siegel's reach. Drop or wipe it as soon as it is decoded.)
//!
//! Both decoders use lookup tables, so their timing depends on the input: fine
//! for loading a key once, not for decoding secrets an attacker can time over
//! and over.
//!
//! The program decodes RFC 4648's test vectors (section 10, BASE64 and BASE16)
//! through the same code, checks that malformed and oversized input is
//! rejected, and exits non-zero on any mismatch.
//!
//! ```text
//! SIEGEL_COOKIE_KEY=$(head -c32 /dev/urandom | base64) \
//!     cargo run --release --example decode_into_protected
//! ```

use std::{error::Error as StdError, process::ExitCode};

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use siegel::{protected, Bytes, CtEq, Dedicated, Load, Protected};

/// A variable-length secret (a token, a password) of up to 64 bytes.
type Token = Bytes<64>;

/// Decodes standard, padded base64 into a new protected token: too long an
/// input is an error, never a truncation.
fn token_from_base64(encoded: &str) -> Result<Protected<Token>, siegel::Error> {
    Protected::<Token>::init_with_in(Dedicated, |t| t.load_base64(&BASE64, encoded))
}

/// Decodes hex (either case) into a new protected token.
fn token_from_hex(encoded: &str) -> Result<Protected<Token>, siegel::Error> {
    Protected::<Token>::init_with_in(Dedicated, |t| t.load_hex(encoded))
}

/// Fixed-size keys of a web service, each arriving in its own encoding.
#[protected]
struct ServiceKeys {
    /// Signs session cookies; configured as base64.
    cookie_key: [u8; 32],
    /// Authenticates webhook deliveries; configured as hex.
    webhook_secret: [u8; 32],
}

impl ServiceKeys {
    /// Each field decoded in place. A `[u8; 32]` takes exactly 32 bytes: a
    /// longer or a shorter key is an error (`siegel::Error::Decode`).
    fn load(cookie_base64: &str, webhook_hex: &str) -> Result<Protected<Self>, siegel::Error> {
        Protected::<Self>::init_with_in(Dedicated, |k| {
            k.cookie_key_mut().load_base64(&BASE64, cookie_base64)?;
            k.webhook_secret_mut().load_hex(webhook_hex)
        })
    }
}

/// RFC 4648, section 10: the BASE64 and BASE16 encodings of "", "f", "fo",
/// "foo", "foob", "fooba" and "foobar".
const RFC_4648: [(&str, &str, &str); 7] = [
    ("", "", ""),
    ("f", "Zg==", "66"),
    ("fo", "Zm8=", "666F"),
    ("foo", "Zm9v", "666F6F"),
    ("foob", "Zm9vYg==", "666F6F62"),
    ("fooba", "Zm9vYmE=", "666F6F6261"),
    ("foobar", "Zm9vYmFy", "666F6F626172"),
];

/// `true` if the protected token holds exactly `expected`, compared in
/// constant time (`Bytes::ct_eq`; a length mismatch is simply `false`).
fn holds(token: &Protected<Token>, expected: &[u8]) -> Result<bool, siegel::Error> {
    Ok(token.read()?.ct_eq(expected))
}

fn known_answers() -> Result<(), Box<dyn StdError>> {
    for (plain, base64, base16) in RFC_4648 {
        if !holds(&token_from_base64(base64)?, plain.as_bytes())? {
            return Err(
                format!("RFC 4648: BASE64(\"{plain}\") = \"{base64}\" decoded wrong").into()
            );
        }
        if !holds(&token_from_hex(base16)?, plain.as_bytes())? {
            return Err(
                format!("RFC 4648: BASE16(\"{plain}\") = \"{base16}\" decoded wrong").into()
            );
        }
        // Lowercase hex decodes to the same bytes.
        if !holds(&token_from_hex(&base16.to_lowercase())?, plain.as_bytes())? {
            return Err(format!("RFC 4648: lowercase \"{base16}\" decoded wrong").into());
        }
        println!("RFC 4648 \"{plain}\": base64 {base64:?} and base16 {base16:?} ok");
    }

    // Malformed and oversized input is an error, not a silently shorter key.
    let rejected = [
        ("base64 with a bad character", token_from_base64("Zm9v!").is_err()),
        ("base64 with bad padding", token_from_base64("Zg=").is_err()),
        ("odd-length hex", token_from_hex("666").is_err()),
        ("hex with a bad digit", token_from_hex("66zz").is_err()),
        ("base64 of 65 bytes", token_from_base64(&BASE64.encode([1; 65])).is_err()),
        ("hex of 65 bytes", token_from_hex(&"01".repeat(65)).is_err()),
        (
            "a 33-byte cookie key",
            ServiceKeys::load(&BASE64.encode([1; 33]), &"00".repeat(32)).is_err(),
        ),
        (
            "a 31-byte cookie key",
            ServiceKeys::load(&BASE64.encode([1; 31]), &"00".repeat(32)).is_err(),
        ),
        (
            "a 31-byte webhook secret",
            ServiceKeys::load(&BASE64.encode([1; 32]), &"00".repeat(31)).is_err(),
        ),
    ];
    for (what, was_rejected) in rejected {
        if !was_rejected {
            return Err(format!("{what} was accepted").into());
        }
    }
    println!("malformed and oversized input: rejected");
    Ok(())
}

fn demo() -> Result<(), Box<dyn StdError>> {
    // Demo defaults: 32 bytes of 0x2a, and 0x00..0x1f.
    let cookie = std::env::var("SIEGEL_COOKIE_KEY")
        .unwrap_or_else(|_| "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=".to_owned());
    let webhook = std::env::var("SIEGEL_WEBHOOK_SECRET").unwrap_or_else(|_| {
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f".to_owned()
    });
    let keys = ServiceKeys::load(cookie.trim(), webhook.trim())?;
    drop((cookie, webhook)); // our copies of the encodings: freed, not wiped

    // Printing a secret, or any part of it, is exactly what not to do; the
    // Debug output is redacted.
    println!("loaded {keys:?}, protected by {}", keys.info().mechanism);
    Ok(())
}

fn main() -> ExitCode {
    match known_answers().and_then(|()| demo()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("decode_into_protected: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo test --workspace` checks the same vectors (the example is built as a
/// test too: `test = true` in its package's Cargo.toml).
#[test]
fn rfc_4648_known_answers() -> Result<(), Box<dyn StdError>> {
    known_answers()
}
