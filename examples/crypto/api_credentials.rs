//! API credentials kept in protected memory, used by several worker threads to
//! sign requests with HMAC-SHA256 (the `hmac` and `sha2` crates).
//!
//! The credentials live in one `#[protected]` struct: the key id is `frozen`
//! (readable, never rewritten after initialisation), the secret is hex-decoded
//! straight into its protected field (`hex::decode_to_slice`), and a request
//! counter is bumped in short write scopes. Workers share the sealed handle
//! through an `Arc`; each signs inside its own read scope, which closes (and
//! re-seals the pages) as soon as the MAC is computed.
//!
//! Before the demo, the same load-and-sign path is checked against all seven
//! HMAC-SHA256 test cases of RFC 4231; a mismatch exits non-zero.
//!
//! ```text
//! SIEGEL_DEMO_SECRET=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
//!     cargo run --release --example api_credentials
//! ```

use std::{error::Error as StdError, process::ExitCode, sync::Arc, thread};

use siegel::{protected, Protected};

mod credentials {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    use super::{protected, Protected, StdError};

    /// SHA-256's block size: HMAC-SHA256 never uses more key than this.
    const BLOCK: usize = 64;

    /// Credentials for one API account.
    #[protected]
    pub(crate) struct ApiCredentials {
        /// The public key id sent with every request. Frozen: set here, once.
        #[protected(frozen)]
        key_id: [u8; 16],
        /// The HMAC key as HMAC itself uses it (`K0` in FIPS 198-1): the secret
        /// zero-padded to SHA-256's 64-byte block, or — for a secret longer
        /// than a block — SHA-256 of the secret, zero-padded. HMAC pads and
        /// hashes keys exactly this way (RFC 2104, section 2), so a MAC under
        /// this field equals the MAC under the original secret; RFC 4231's
        /// vectors (short and long keys) check it.
        secret: [u8; BLOCK],
        /// Requests signed since the credentials were loaded.
        requests: u64,
    }

    impl ApiCredentials {
        /// Loads credentials, decoding the hex secret straight into protected
        /// memory: the struct never exists outside its region, and the decoded
        /// bytes are written into the sealed-at-rest pages by
        /// `hex::decode_to_slice` itself.
        ///
        /// `hex` decodes with a lookup table, so its timing depends on the
        /// digits: fine for a key read once from configuration, not for
        /// decoding attacker-supplied secrets in a loop an attacker can time.
        ///
        /// # Errors
        ///
        /// The region could not be created, or `secret_hex` is not hex.
        pub(crate) fn load(
            key_id: &str,
            secret_hex: &str,
        ) -> Result<Protected<Self>, Box<dyn StdError>> {
            let mut creds = Self::protect_with(|c| {
                // `key_id` is frozen, so outside this module there is no
                // `key_id_mut()`: this module is where it gets its value.
                let n = key_id.len().min(c.key_id.len());
                c.key_id[..n].copy_from_slice(&key_id.as_bytes()[..n]);
            })?;
            let len = secret_hex.len() / 2;
            if len <= BLOCK {
                // Decoded in place; the rest of the field stays zero.
                hex::decode_to_slice(secret_hex, &mut creds.write()?.secret_mut()[..len])?;
            } else {
                // A secret longer than a block: decode it into a protected
                // scratch slice, then hash it straight into the field. The
                // hasher keeps its state and the secret's last partial block
                // on the stack; `sha2`'s `zeroize` feature wipes both when it
                // drops.
                let long = Protected::<[u8]>::from_hex_in(siegel::Dedicated, secret_hex)?;
                let mut c = creds.write()?;
                let digest: &mut [u8; 32] = (&mut c.secret_mut()[..32]).try_into()?;
                Sha256::new_with_prefix(&*long.read()?).finalize_into(digest.into());
            } // the scratch slice is wiped and unmapped here
            Ok(creds)
        }

        /// HMAC-SHA256 of `message` under the secret, computed in a read scope
        /// that closes before this returns. The tag is not secret.
        ///
        /// Copies the `hmac` crate makes, outside siegel: `new` builds the
        /// padded key block (key ⊕ ipad, then key ⊕ opad) in a stack
        /// temporary it does not wipe, and the `Hmac` value holds the inner and
        /// outer SHA-256 states after one block each — key-equivalent for
        /// forging MACs. Those states are wiped when `mac` is consumed, thanks
        /// to the `zeroize` features of `hmac` and `sha2`, and `mac` never
        /// outlives the scope.
        ///
        /// # Errors
        ///
        /// The region could not be opened.
        pub(crate) fn sign(
            creds: &Protected<Self>,
            message: &[u8],
        ) -> Result<[u8; 32], siegel::Error> {
            let c = creds.read()?;
            let mut mac = Hmac::<Sha256>::new(c.secret().into());
            mac.update(message);
            Ok(mac.finalize().into_bytes().into())
        }
    }
}

use credentials::ApiCredentials;

/// RFC 4231, section 4: key, data and HMAC-SHA256, all hex. Test case 5's MAC
/// is truncated to 128 bits; cases 6 and 7 use a 131-byte key.
const RFC_4231: [(&str, &str, &str); 7] = [
    (
        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "4869205468657265",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        "4a656665",
        "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "dddddddddddddddddddddddddddddddddddddddddddddddddd\
         dddddddddddddddddddddddddddddddddddddddddddddddddd",
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        "0102030405060708090a0b0c0d0e0f10111213141516171819",
        "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\
         cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (
        "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c",
        "546573742057697468205472756e636174696f6e",
        "a3b6167473100ee06e0c796c2955552b",
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
         aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
         aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
         aaaaaaaaaa",
        "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a\
         65204b6579202d2048617368204b6579204669727374",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
         aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
         aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
         aaaaaaaaaa",
        "5468697320697320612074657374207573696e672061206c6172676572207468\
         616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074\
         68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565\
         647320746f20626520686173686564206265666f7265206265696e6720757365\
         642062792074686520484d414320616c676f726974686d2e",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
];

/// Loads each RFC 4231 key through [`ApiCredentials::load`] and signs the
/// test data with [`ApiCredentials::sign`]: the code path the demo uses.
fn known_answers() -> Result<(), Box<dyn StdError>> {
    for (case, (key, data, expected)) in (1..).zip(RFC_4231) {
        let creds = ApiCredentials::load("rfc4231", key)?;
        let tag = ApiCredentials::sign(&creds, &hex::decode(data)?)?;
        let got = hex::encode(tag);
        // Test case 5 checks the first 128 bits only.
        if !got.starts_with(expected) {
            return Err(format!(
                "RFC 4231 test case {case}: HMAC-SHA256 is {got}, expected {expected}"
            )
            .into());
        }
        println!("RFC 4231 test case {case}: ok");
    }
    Ok(())
}

fn demo() -> Result<(), Box<dyn StdError>> {
    let secret_hex = std::env::var("SIEGEL_DEMO_SECRET").unwrap_or_else(|_| "ab".repeat(32));
    let mut creds = ApiCredentials::load("acct-7", &secret_hex)?;
    // The environment's copy is outside siegel's reach; drop ours early (this
    // frees the String without wiping it).
    drop(secret_hex);

    println!("loaded {creds:?}, protected by {}", creds.info().mechanism);

    // A sealed handle is `Send + Sync`: share it, and let each worker open its
    // own read scope. Under protection keys, only the thread holding a guard can
    // read the pages while it holds it.
    let shared = Arc::new(creds);
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let creds = Arc::clone(&shared);
            thread::spawn(move || -> Result<String, siegel::Error> {
                let request = format!("GET /v1/orders?page={worker}");
                let key_id = String::from_utf8_lossy(creds.read()?.key_id())
                    .trim_end_matches('\0')
                    .to_owned();
                let tag = ApiCredentials::sign(&creds, request.as_bytes())?;
                Ok(format!("{request}  key={key_id}  hmac-sha256={}", hex::encode(tag)))
            })
        })
        .collect();
    for worker in workers {
        println!("{}", worker.join().map_err(|_| "worker panicked")??);
    }

    // Back to one owner: count the requests in a short write scope.
    creds = Arc::into_inner(shared).ok_or("a worker still holds the credentials")?;
    *creds.write()?.requests_mut() += 4;
    println!("requests signed: {}", creds.read()?.requests());
    Ok(())
}

fn main() -> ExitCode {
    match known_answers().and_then(|()| demo()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("api_credentials: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo test --workspace` checks the same vectors (the example is built as a
/// test too: `test = true` in its package's Cargo.toml).
#[test]
fn rfc_4231_known_answers() -> Result<(), Box<dyn StdError>> {
    known_answers()
}
