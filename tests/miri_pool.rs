//! Pools under Miri (issue #17): many secrets of several sizes and alignments in
//! shared arenas — every size class, `[u128; 3]`, a `#[repr(align(64))]` field
//! type through `#[protected]`, slices — written, read back, freed in a mixed
//! order and reused, plus a few threads allocating and freeing at once. Sized
//! for Miri (a few hundred secrets); natively it is a quick smoke test.
//!
//! Under Miri every guard's deref and every wipe and copy checks, through the
//! shim in `siegel/src/sys/miri.rs`, that the pages' recorded protection allows
//! the access; Miri itself checks bounds, alignment, provenance, aliasing and
//! data races of the arena code underneath.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::thread;

use siegel::{Backend, Options, Plain, Pool, Protected};

fn pool() -> Pool {
    Pool::with_options(Options::new().backend(Backend::Mprotect))
}

/// A field type that needs 64-byte alignment (a field of a `#[protected]`
/// struct is plain data or another `#[protected]` struct).
#[siegel::protected]
#[repr(align(64))]
pub struct Line {
    bytes: [u8; 64],
}

/// A struct through the macro whose fields have alignments 64, 16 and 1.
#[siegel::protected]
pub struct Mixed {
    line: Line,
    words: [u128; 3],
    tag: [u8; 16],
}

/// Byte `i` of secret `n`.
fn byte(n: usize, i: usize) -> u8 {
    u8::try_from((n * 31 + i * 7) % 251).unwrap()
}

/// Fills, checks and drops secrets of one type, `count` of them, freeing every
/// other one first and then allocating again into the freed slots.
fn round_trip<T: Plain>(
    pool: &Pool,
    count: usize,
    fill: impl Fn(usize, &mut T),
    ok: impl Fn(usize, &T) -> bool,
) {
    let mut secrets: Vec<Option<Protected<T>>> = (0..count)
        .map(|n| Some(Protected::init_with_in(pool, |s: &mut T| fill(n, s)).unwrap()))
        .collect();
    for (n, secret) in secrets.iter().enumerate() {
        let secret = secret.as_ref().unwrap();
        assert!(secret.info().pooled);
        assert!(ok(n, &secret.read().unwrap()), "secret {n} read back wrong");
    }
    // Free every other secret, then reuse the slots: the newcomers start zeroed.
    for slot in secrets.iter_mut().step_by(2) {
        *slot = None;
    }
    for (n, slot) in secrets.iter_mut().enumerate().step_by(2) {
        let fresh: Protected<T> = Protected::zeroed_in(pool).unwrap();
        assert!(ok(usize::MAX, &fresh.read().unwrap()), "a reused slot was not zeroed");
        let mut fresh = fresh;
        fill(n, &mut *fresh.write().unwrap());
        *slot = Some(fresh);
    }
    for (n, secret) in secrets.iter().enumerate() {
        assert!(ok(n, &secret.as_ref().unwrap().read().unwrap()), "secret {n} after reuse");
    }
}

fn fill_bytes<const N: usize>(n: usize, s: &mut [u8; N]) {
    for (i, b) in s.iter_mut().enumerate() {
        *b = byte(n, i);
    }
}

fn bytes_ok<const N: usize>(n: usize, s: &[u8; N]) -> bool {
    s.iter().enumerate().all(|(i, &b)| b == if n == usize::MAX { 0 } else { byte(n, i) })
}

#[test]
fn every_size_class_round_trips() {
    let pool = pool();
    // Enough of each class to free every other one and reuse the holes (Miri
    // pays per secret: a few each); the classes of 1000 bytes and more span
    // two pages of an arena.
    round_trip::<u8>(
        &pool,
        6,
        |n, s| *s = byte(n, 0),
        |n, s| *s == if n == usize::MAX { 0 } else { byte(n, 0) },
    );
    round_trip::<[u8; 1]>(&pool, 4, fill_bytes, bytes_ok);
    round_trip::<[u8; 16]>(&pool, 6, fill_bytes, bytes_ok);
    round_trip::<[u8; 31]>(&pool, 4, fill_bytes, bytes_ok);
    round_trip::<[u8; 48]>(&pool, 4, fill_bytes, bytes_ok);
    round_trip::<[u8; 100]>(&pool, 4, fill_bytes, bytes_ok);
    round_trip::<[u8; 240]>(&pool, 4, fill_bytes, bytes_ok);
    round_trip::<[u8; 500]>(&pool, 4, fill_bytes, bytes_ok);
    round_trip::<[u8; 1000]>(&pool, 4, fill_bytes, bytes_ok);
    round_trip::<[u8; 2032]>(&pool, 3, fill_bytes, bytes_ok);
}

#[test]
fn aligned_element_types_round_trip() {
    let pool = pool();
    round_trip::<u16>(
        &pool,
        10,
        |n, s| *s = u16::from(byte(n, 1)),
        |n, s| *s == if n == usize::MAX { 0 } else { u16::from(byte(n, 1)) },
    );
    round_trip::<[u64; 5]>(
        &pool,
        10,
        |n, s| s.iter_mut().enumerate().for_each(|(i, w)| *w = u64::from(byte(n, i)) << 40),
        |n, s| {
            s.iter()
                .enumerate()
                .all(|(i, &w)| w == if n == usize::MAX { 0 } else { u64::from(byte(n, i)) << 40 })
        },
    );
    round_trip::<[u128; 3]>(
        &pool,
        12,
        |n, s| s.iter_mut().enumerate().for_each(|(i, w)| *w = u128::from(byte(n, i)) << 100 | 1),
        |n, s| {
            s.iter().enumerate().all(|(i, &w)| {
                w == if n == usize::MAX { 0 } else { u128::from(byte(n, i)) << 100 | 1 }
            })
        },
    );
    round_trip::<Line>(&pool, 8, |n, s| fill_bytes(n, &mut s.bytes), |n, s| bytes_ok(n, &s.bytes));
}

#[test]
fn a_macro_struct_with_an_align_64_field_is_pooled_and_aligned() {
    let pool = pool();
    let mut all: Vec<Protected<Mixed>> = Vec::new();
    for n in 0..6 {
        let mut m: Protected<Mixed> = Protected::zeroed_in(&pool).unwrap();
        {
            let mut w = m.write().unwrap();
            fill_bytes(n, w.line_mut().bytes_mut());
            w.words_mut()[2] = u128::MAX - u128::try_from(n).unwrap();
            w.tag_mut()[15] = byte(n, 15);
        }
        assert_eq!(m.info().secret.start % 64, 0, "aligned for Line");
        all.push(m);
    }
    for (n, m) in all.iter().enumerate() {
        let r = m.read().unwrap();
        assert!(bytes_ok(n, r.line().bytes()));
        assert_eq!(r.words()[2], u128::MAX - u128::try_from(n).unwrap());
        assert_eq!(r.words()[0], 0);
        assert_eq!(r.tag()[15], byte(n, 15));
    }
    // Dedicated, too.
    let d = Mixed::protect_with(|m| m.words_mut()[1] = 7).unwrap();
    assert_eq!(d.read().unwrap().words()[1], 7);
}

#[test]
fn pooled_slices_and_transitions() {
    let pool = pool();
    let mut s = Protected::init_slice_with_in(&pool, 77, |s: &mut [u16]| s.fill(9)).unwrap();
    s.write().unwrap()[76] = 10;
    let open = s.into_read_only().map_err(|e| e.into_parts().0).unwrap();
    assert_eq!(open[75..], [9, 10]);
    let mut rw = open.into_read_write().map_err(|e| e.into_parts().0).unwrap();
    rw[0] = 1;
    let sealed = rw.seal().map_err(|e| e.into_parts().0).unwrap();
    let rotated = sealed.rotate().map_err(|e| e.into_parts().0).unwrap();
    assert!(rotated.info().pooled);
    assert_eq!(rotated.read().unwrap()[..2], [1, 9]);
    let empty = Protected::<[u64]>::zeroed_slice_in(&pool, 0).unwrap();
    assert!(empty.read().unwrap().is_empty());
}

#[test]
fn threads_allocate_use_and_free_concurrently() {
    let pool = pool();
    thread::scope(|scope| {
        for t in 0..3u8 {
            let pool = &pool;
            scope.spawn(move || {
                let mut live = Vec::new();
                for round in 0..12u8 {
                    let tag = [t, round];
                    live.push((
                        tag,
                        Protected::init_with_in(pool, |k: &mut [u8; 24]| {
                            k[..2].copy_from_slice(&tag);
                        })
                        .unwrap(),
                    ));
                    if round % 3 == 0 {
                        let (tag, old) = live.swap_remove(usize::from(round) % live.len());
                        assert_eq!(old.read().unwrap()[..2], tag);
                    }
                }
                for (tag, key) in &mut live {
                    assert_eq!(key.read().unwrap()[..2], *tag);
                    key.write().unwrap()[23] = tag[1];
                }
            });
        }
    });
    assert_eq!(pool.info().secrets, 0);
}
