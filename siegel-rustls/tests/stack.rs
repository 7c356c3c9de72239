//! The stack scrub: a signature made deep in a thread's stack leaves neither
//! half of `SHA-512(seed)` (Ed25519: dalek's `ExpandedSecretKey::from_bytes`
//! copies both into plain locals) nor the scalar's bytes (P-256: `to_repr()`
//! for RFC 6979) in the dead frames below the caller. Without the scrub the
//! debug build leaves two Ed25519 copies there and the first test fails; the
//! P-256 test found no copy even without it (checked 2026-12-03), and the
//! release build keeps both in registers or overwrites them.
//!
//! The signature is made 64 KiB below where the scan then runs, so that the
//! scan's own frames do not overwrite what signing left behind.

use std::{fs::File, hint::black_box, os::unix::fs::FileExt};

use sha2::{digest::array::Array, Digest, Sha512};
use siegel::Dedicated;
use siegel::Protected;
use siegel_rustls::{Algorithm, ProtectedSigningKey};

/// Calls `f` about `depth` KiB further down the stack.
#[inline(never)]
fn deep(depth: usize, f: &dyn Fn()) {
    let mut pad = [0u8; 1024];
    black_box(&mut pad);
    if depth == 0 {
        f();
    } else {
        deep(depth - 1, f);
    }
    black_box(&pad);
}

/// The bytes of the mapping that holds `probe` (this thread's stack).
fn stack_of(probe: usize) -> Vec<u8> {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    let (start, end) = maps
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.split_once('-'))
        .map(|(s, e)| {
            (usize::from_str_radix(s, 16).expect("hex"), usize::from_str_radix(e, 16).expect("hex"))
        })
        .find(|&(s, e)| s <= probe && probe < e)
        .expect("the stack's mapping");
    let mut bytes = vec![0u8; end - start];
    File::open("/proc/self/mem")
        .expect("/proc/self/mem")
        .read_exact_at(&mut bytes, u64::try_from(start).expect("address"))
        .expect("read the stack");
    bytes
}

#[test]
fn signing_leaves_no_expanded_key_on_the_stack() {
    let seed = Protected::<[u8; 32]>::init_with_in(Dedicated, siegel::fill_random).expect("seed");
    let key = ProtectedSigningKey::from_raw(&seed, Algorithm::Ed25519).expect("key");
    let expansion = seed
        .with_read(|s| {
            Protected::<[u8; 64]>::init_with_in(Dedicated, |e| {
                Sha512::new().chain_update(s).finalize_into(Array::cast_from_core_mut(e));
            })
        })
        .expect("scope and region");
    drop(seed);

    let hits = hits_after_signing(key, move |stack| {
        let e = expansion.read().expect("scope");
        count(stack, &[&e[1..31], &e[32..64]])
    });
    assert_eq!(hits, 0, "expanded-key bytes left on the signing thread's stack");
}

#[test]
fn signing_leaves_no_p256_scalar_on_the_stack() {
    let (scalar, key) = loop {
        let scalar =
            Protected::<[u8; 32]>::init_with_in(Dedicated, siegel::fill_random).expect("scalar");
        if let Ok(key) = ProtectedSigningKey::from_raw(&scalar, Algorithm::EcdsaP256) {
            break (scalar, key);
        }
    };
    let hits =
        hits_after_signing(key, move |stack| count(stack, &[&scalar.read().expect("scope")[..]]));
    assert_eq!(hits, 0, "scalar bytes left on the signing thread's stack");
}

/// Signs 64 KiB down a new thread's stack, then lets `scan` count what it
/// finds in that stack.
fn hits_after_signing(
    key: ProtectedSigningKey,
    scan: impl FnOnce(&[u8]) -> usize + Send + 'static,
) -> usize {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            deep(64, &|| {
                key.sign(b"a message").expect("signature");
            });
            let probe = 0u8;
            scan(&stack_of((&raw const probe).addr()))
        })
        .expect("thread")
        .join()
        .expect("join")
}

fn count(haystack: &[u8], needles: &[&[u8]]) -> usize {
    needles.iter().map(|n| haystack.windows(n.len()).filter(|w| w == n).count()).sum()
}
