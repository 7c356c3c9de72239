//! API credentials kept in protected memory and used by several worker threads.
//!
//! A service signs outgoing requests with a shared secret. The credentials live in
//! one `#[protected]` struct: the key id is `frozen` (readable, never rewritten
//! after initialisation), the secret is written once in place, and a request
//! counter is bumped in short write scopes. Workers share the sealed handle
//! through an `Arc`; each signs inside its own read scope, which closes (and
//! re-seals the pages) as soon as the signature is computed.
//!
//! ```text
//! SIEGEL_DEMO_SECRET=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
//!     cargo run --example api_credentials
//! ```
//!
//! The signature is a toy keyed hash standing in for HMAC-SHA256; use a real MAC.

use std::{sync::Arc, thread};

use siegel::{protected, Error, Protected};

mod credentials {
    use super::{protected, Error, Protected};

    /// Credentials for one API account.
    #[protected]
    pub(crate) struct ApiCredentials {
        /// The public key id sent with every request. Frozen: set here, once.
        #[protected(frozen)]
        key_id: [u8; 16],
        /// The signing secret.
        secret: [u8; 32],
        /// Requests signed since the credentials were loaded.
        requests: u64,
    }

    impl ApiCredentials {
        /// Loads credentials, decoding the hex secret straight into protected
        /// memory (the struct never exists outside its region).
        ///
        /// # Errors
        ///
        /// The region could not be created.
        ///
        /// # Panics
        ///
        /// If `secret_hex` is not 64 hex digits.
        pub(crate) fn load(key_id: &str, secret_hex: &str) -> Result<Protected<Self>, Error> {
            assert_eq!(secret_hex.len(), 64, "the secret is 32 bytes in hex");
            Self::protect_with(|c| {
                // `key_id` is frozen, so outside this module there is no
                // `key_id_mut()`: this module is where it gets its value.
                let n = key_id.len().min(c.key_id.len());
                c.key_id[..n].copy_from_slice(&key_id.as_bytes()[..n]);
                for (byte, pair) in c.secret_mut().iter_mut().zip(secret_hex.as_bytes().chunks(2)) {
                    *byte = hex(pair[0]) << 4 | hex(pair[1]);
                }
            })
        }
    }

    fn hex(digit: u8) -> u8 {
        match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            b'A'..=b'F' => digit - b'A' + 10,
            _ => panic!("not a hex digit: {:?}", char::from(digit)),
        }
    }
}

use credentials::ApiCredentials;

/// A toy keyed hash (FNV-1a over key and message): a stand-in for a real MAC.
fn sign(secret: &[u8; 32], message: &[u8]) -> u64 {
    secret.iter().chain(message).fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn main() -> Result<(), Error> {
    let secret_hex = std::env::var("SIEGEL_DEMO_SECRET").unwrap_or_else(|_| "ab".repeat(32));
    let mut creds = ApiCredentials::load("acct-7", &secret_hex)?;
    drop(secret_hex); // the environment copy is outside siegel's reach; drop ours early

    println!("loaded {creds:?}, protected by {}", creds.mechanism());

    // A sealed handle is `Send + Sync`: share it, and let each worker open its
    // own read scope. Under protection keys, only the thread holding a guard can
    // read the pages while it holds it.
    let shared = Arc::new(creds);
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let creds = Arc::clone(&shared);
            thread::spawn(move || -> Result<String, Error> {
                let request = format!("GET /v1/orders?page={worker}");
                let (key_id, signature) = {
                    let c = creds.read()?; // read scope opens
                    (
                        String::from_utf8_lossy(c.key_id()).into_owned(),
                        sign(c.secret(), request.as_bytes()),
                    )
                }; // and closes here
                Ok(format!(
                    "{request}  key={}  sig={signature:016x}",
                    key_id.trim_end_matches('\0')
                ))
            })
        })
        .collect();
    for worker in workers {
        println!("{}", worker.join().expect("worker panicked")?);
    }

    // Back to one owner: count the requests in a short write scope.
    creds = Arc::into_inner(shared).expect("all workers are done");
    *creds.write()?.requests_mut() += 4;
    println!("requests signed: {}", creds.read()?.requests());
    Ok(())
}
