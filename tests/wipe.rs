//! A dropped secret is gone when `drop` returns: pooled or dedicated, on every
//! backend, after rotation, and for a slot freed while its arena had lost its
//! protection key. Each test looks for the secret's bytes through
//! `/proc/self/mem`, which ignores page protection — what a debugger, a core
//! file or a same-user process would see.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

use siegel::{Backend, Mechanism, Options, Pool, Protected};
use support::{backends, opts, pku_available, read_own_memory};

/// The secret each test writes, distinct per test (`salt`), so a region another
/// test maps at an address this one freed never holds what this one looks for
/// (the tests of this file run in parallel threads).
fn pattern(salt: u8) -> [u8; 32] {
    let mut bytes = *b"siegel-forward-secrecy-session!!";
    bytes[..4].copy_from_slice(&[b'#', salt, salt ^ 0x5A, b'#']);
    bytes
}

/// Asserts that nothing siegel manages at `range` still holds any 8-byte window
/// of the secret that starts with `secret`'s salted prefix (an unmapped range
/// counts as gone).
fn assert_gone(what: &str, secret: [u8; 32], range: core::ops::Range<usize>) {
    match read_own_memory(range.start, range.len()) {
        Ok(bytes) => {
            let leaked = bytes.windows(8).any(|w| secret.windows(8).take(3).any(|p| p == w));
            assert!(!leaked, "{what}: the secret is still in memory after drop: {bytes:02x?}");
        }
        Err(err) => println!("{what}: no longer mapped ({err})"),
    }
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[test]
fn a_dropped_pooled_secret_is_wiped_before_drop_returns() {
    let secret_bytes = pattern(1);
    for backend in backends("a_dropped_pooled_secret_is_wiped_before_drop_returns") {
        let pool = Pool::with_options(opts(backend));
        // A neighbour keeps the arena alive and its page sealed.
        let neighbour = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(1)).unwrap();
        let secret = Protected::init_with_in(&pool, |k: &mut [u8; 32]| *k = secret_bytes).unwrap();
        let at = secret.info().secret;
        assert_eq!(
            read_own_memory(at.start, 32).unwrap(),
            secret_bytes,
            "the probe sees sealed bytes"
        );
        drop(secret);
        assert_gone(&format!("{backend:?} pooled"), secret_bytes, at);
        assert_eq!(*neighbour.read().unwrap(), [1; 32]);
    }
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[test]
fn a_rotated_pooled_secret_leaves_no_copy_behind() {
    let secret_bytes = pattern(2);
    for backend in backends("a_rotated_pooled_secret_leaves_no_copy_behind") {
        let pool = Pool::with_options(opts(backend));
        let _neighbour = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
        let secret = Protected::init_with_in(&pool, |k: &mut [u8; 32]| *k = secret_bytes).unwrap();
        let old = secret.info().secret;
        let secret = secret.rotate().unwrap();
        assert_ne!(secret.info().secret, old);
        assert_gone(&format!("{backend:?} old slot after rotate"), secret_bytes, old);
        assert_eq!(*secret.read().unwrap(), secret_bytes);
    }
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[test]
fn a_dropped_dedicated_secret_is_gone() {
    let secret_bytes = pattern(3);
    for backend in backends("a_dropped_dedicated_secret_is_gone") {
        let secret =
            Protected::init_with_in(opts(backend), |k: &mut [u8; 32]| *k = secret_bytes).unwrap();
        let at = secret.info().secret;
        drop(secret);
        assert_gone(&format!("{backend:?} dedicated"), secret_bytes, at);
    }
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_slot_freed_while_its_arena_lost_its_key_is_wiped() {
    const TEST: &str = "a_slot_freed_while_its_arena_lost_its_key_is_wiped";
    let secret_bytes = pattern(4);
    if !pku_available(TEST) {
        return;
    }
    let pool = Pool::with_options(Options::new().backend(Backend::Pku));
    let _keep = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
    let secret = Protected::init_with_in(&pool, |k: &mut [u8; 32]| *k = secret_bytes).unwrap();
    let at = secret.info().secret;
    // Make keyed regions until one of them takes the arena's key.
    let mut others = Vec::new();
    while secret.info().mechanism != Mechanism::PageProtection {
        assert!(others.len() < 200, "the arena never lost its key");
        others
            .push(Protected::<[u8; 32]>::zeroed_in(Options::new().backend(Backend::Pku)).unwrap());
    }
    drop(secret);
    assert_gone("slot freed while its arena was keyless", secret_bytes, at.clone());
    // The key comes back on the next open; the wiped slot is handed out zeroed.
    let again = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
    assert_eq!(*again.read().unwrap(), [0; 32]);
    assert_gone("after the arena took a key back", secret_bytes, at);
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[test]
fn a_thousand_freed_pooled_secrets_leave_nothing() {
    let secret_bytes = pattern(5);
    for backend in backends("a_thousand_freed_pooled_secrets_leave_nothing") {
        let pool = Pool::with_options(opts(backend));
        let secrets: Vec<Protected<[u8; 32]>> = (0..1000)
            .map(|_| Protected::init_with_in(&pool, |k: &mut [u8; 32]| *k = secret_bytes).unwrap())
            .collect();
        let keep = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
        let arena = keep.info().data_pages;
        drop(secrets);
        assert_gone(&format!("{backend:?} arena after 1000 frees"), secret_bytes, arena);
    }
}
