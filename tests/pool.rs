//! Pools: many small secrets in shared guarded arenas, each slot with its own
//! canary; freed slots wiped before anyone can read them; typed exhaustion.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "these tests simulate overflows and stale pointers")]

mod support;

use std::thread;

use siegel::{Backend, Error, Options, Pool, Protected};
use support::{backends, in_child};
#[cfg(target_os = "linux")]
use support::{drop_cap_ipc_lock, set_memlock_limit};

fn pool(backend: Backend) -> Pool {
    Pool::with_options(Options::new().backend(backend))
}

fn poke(addr: usize, value: u8) {
    // SAFETY: the tests point this at bytes of an open slot's page on purpose.
    unsafe { core::ptr::with_exposed_provenance_mut::<u8>(addr).write_volatile(value) };
}

fn peek(addr: usize) -> u8 {
    // SAFETY: the tests point this at bytes of an open slot's page.
    unsafe { core::ptr::with_exposed_provenance::<u8>(addr).read_volatile() }
}

#[cfg_attr(
    miri,
    ignore = "1,000 pooled secrets: minutes under Miri; tests/miri_pool.rs fills and reuses arena slots"
)]
#[test]
fn a_thousand_small_secrets_share_a_few_arenas() {
    for backend in backends("a_thousand_small_secrets_share_a_few_arenas") {
        let pool = pool(backend);
        let keys: Vec<Protected<[u8; 32]>> = (0..1000u32)
            .map(|i| {
                Protected::init_with_in(&pool, |k: &mut [u8; 32]| {
                    k[..4].copy_from_slice(&i.to_le_bytes());
                })
                .unwrap()
            })
            .collect();
        assert!(keys.iter().all(|k| k.info().pooled));
        assert_eq!(pool.info().secrets, 1000);
        assert_eq!(pool.info().arenas, 1, "1000 slots of 64 bytes fit one 64 KiB arena");
        for (i, key) in (0u32..).zip(&keys) {
            assert_eq!(key.read().unwrap()[..4], i.to_le_bytes());
        }
        drop(keys);
        assert_eq!(pool.info().secrets, 0);
    }
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn a_one_byte_overflow_into_the_neighbour_slot_is_blamed_on_the_writer() {
    for backend in backends("a_one_byte_overflow_into_the_neighbour_slot_is_blamed_on_the_writer") {
        let pool = pool(backend);
        let mut a = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
        let b = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(2)).unwrap();
        let end = a.info().secret.end;
        assert_eq!(b.info().secret.start - 32, end, "b's slot follows a's");
        {
            let _open = a.write().unwrap();
            // One past `a`: the first byte of `b`'s slot, `b`'s canary.
            poke(end, !peek(end));
        }
        // The writer is caught when its write scope closes...
        assert!(matches!(a.read(), Err(Error::CanaryCorrupted)), "{backend:?}");
        // ...and the innocent neighbour keeps working (its canary was repaired).
        assert_eq!(*b.read().unwrap(), [2; 32], "{backend:?}");
    }
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn a_one_byte_underflow_is_detected() {
    for backend in backends("a_one_byte_underflow_is_detected") {
        let pool = pool(backend);
        let mut a = Protected::<[u8; 20]>::zeroed_in(&pool).unwrap();
        let below = a.info().secret.start - 1;
        {
            let _open = a.write().unwrap();
            poke(below, !peek(below));
        }
        assert!(matches!(a.read(), Err(Error::CanaryCorrupted)), "{backend:?}");
    }
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn a_freed_slot_cannot_be_read_through_a_stale_pointer() {
    for backend in backends("a_freed_slot_cannot_be_read_through_a_stale_pointer") {
        let pool = pool(backend);
        let old = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(0xEE)).unwrap();
        let neighbour = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(1)).unwrap();
        let stale = old.info().secret;
        drop(old);
        // The neighbour's scope opens the shared page (or key): the stale bytes
        // must already be gone.
        let open = neighbour.read().unwrap();
        assert!(stale.clone().all(|addr| peek(addr) == 0), "{backend:?}: old secret readable");
        drop(open);
        // Reuse hands out zeroed memory.
        let reused = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
        assert_eq!(reused.info().secret, stale, "the freed slot is reused");
        assert_eq!(*reused.read().unwrap(), [0; 32]);
    }
}

#[cfg_attr(
    miri,
    ignore = "a count check (run natively) that costs a whole 64 KiB arena, ~20 s under Miri"
)]
#[test]
fn exhaustion_is_a_typed_error() {
    let pool = Pool::new().max_secrets(10);
    let mut held: Vec<Protected<u64>> =
        (0..10).map(|_| Protected::zeroed_in(&pool).unwrap()).collect();
    match Protected::<u64>::zeroed_in(&pool) {
        Err(Error::PoolExhausted { capacity }) => assert_eq!(capacity, 10),
        other => panic!("expected Error::PoolExhausted, got {other:?}"),
    }
    held.pop();
    held.push(Protected::zeroed_in(&pool).unwrap());
}

#[test]
fn large_secrets_get_a_dedicated_region() {
    let pool = Pool::new();
    let big = Protected::<[u8]>::zeroed_slice_in(&pool, 5000).unwrap();
    assert!(!big.info().pooled);
    let small = Protected::<[u8]>::zeroed_slice_in(&pool, 2032).unwrap();
    assert!(small.info().pooled);
}

#[cfg_attr(
    miri,
    ignore = "8,000 pooled secrets on 4 threads: too slow under Miri; tests/miri_pool.rs runs it scaled down"
)]
#[test]
fn threads_allocate_and_free_concurrently() {
    for backend in backends("threads_allocate_and_free_concurrently") {
        let pool = pool(backend);
        thread::scope(|scope| {
            for t in 0..4u8 {
                let pool = &pool;
                scope.spawn(move || {
                    let mut live = Vec::new();
                    for round in 0..2000u32 {
                        let tag = [t, u8::try_from(round % 251).unwrap()];
                        live.push((
                            tag,
                            Protected::init_with_in(pool, |k: &mut [u8; 24]| {
                                k[..2].copy_from_slice(&tag);
                            })
                            .unwrap(),
                        ));
                        if round % 3 == 0 {
                            let (tag, old) =
                                live.swap_remove(usize::try_from(round).unwrap() % live.len());
                            assert_eq!(old.read().unwrap()[..2], tag);
                        }
                    }
                    for (tag, key) in &live {
                        assert_eq!(key.read().unwrap()[..2], *tag);
                    }
                });
            }
        });
        assert_eq!(pool.info().secrets, 0);
    }
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn rotation_and_lockdown_cover_pooled_secrets() {
    in_child("rotation_and_lockdown_cover_pooled_secrets", &[], || {
        let pool = Pool::new();
        let a = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(5)).unwrap();
        let before = a.info().secret.start;
        let a = a.rotate().unwrap();
        assert!(a.info().pooled);
        assert_ne!(a.info().secret.start, before);
        assert_eq!(*a.read().unwrap(), [5; 32]);
        let report = siegel::lockdown();
        assert!(report.wiped >= 1);
        assert!(matches!(a.read(), Err(Error::Poisoned)));
        // New pooled secrets come from a fresh arena, not the wiped one.
        let b = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(6)).unwrap();
        assert_eq!(*b.read().unwrap(), [6; 32]);
    });
}

/// Resident set size of this process in bytes, from `/proc/self/statm`.
#[cfg(target_os = "linux")]
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[cfg(target_os = "linux")] // RLIMIT_MEMLOCK, /proc/self/statm
#[test]
fn a_hundred_thousand_32_byte_secrets_fit_the_default_limits() {
    in_child("a_hundred_thousand_32_byte_secrets_fit_the_default_limits", &[], || {
        const N: usize = 100_000;
        drop_cap_ipc_lock();
        set_memlock_limit(8 << 20); // the default RLIMIT_MEMLOCK
        let pool = Pool::with_options(Options::new().backend(Backend::Mprotect));
        let mut keys: Vec<Protected<[u8; 32]>> = Vec::with_capacity(N);
        let handles = keys.capacity() * core::mem::size_of::<Protected<[u8; 32]>>();
        let start = rss();
        for i in 0..N {
            keys.push(
                Protected::init_with_in(&pool, |k: &mut [u8; 32]| {
                    k[0] = u8::try_from(i % 256).unwrap();
                })
                .unwrap(),
            );
        }
        let grown = rss() - start;
        let per_secret = grown / N;
        println!(
            "{N} pooled secrets: {} arenas, {per_secret} B resident per secret \
             ({} B of it the caller's Vec of {}-byte handles)",
            pool.info().arenas,
            handles / N,
            core::mem::size_of::<Protected<[u8; 32]>>()
        );
        let pool_only = per_secret.saturating_sub(handles / N);
        assert!(pool_only <= 128, "pool memory per secret {pool_only} B");
        assert_eq!(keys[N - 1].read().unwrap()[0], u8::try_from((N - 1) % 256).unwrap());
    });
}
