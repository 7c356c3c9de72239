//! The pool at the process's limits: at `vm.max_map_count`, a protection change
//! never leaves an arena page open outside a counted scope and never costs a
//! neighbour its secret; repeated lockdowns strand no arena; map-count
//! exhaustion is `Error::Map`; a leaked guard's access ends with its secret.
//!
//! Each case runs in a child that fills the map count with one-page mappings
//! first, on the mprotect backend (root keeps `CAP_IPC_LOCK`, so the locked
//! memory of the arenas is not what runs out).
//!
//! Windows has no map count, `/proc` or `memfd_secret`: there, only the
//! lockdown and leaked-guard cases run, without their `/proc` checks.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

#[cfg(target_os = "linux")]
use siegel::MemoryPolicy;
use siegel::{Backend, Error, Options, Pool, Protected};
use support::in_child;
#[cfg(target_os = "linux")]
use support::{exhaust_map_count, maps_in, release_maps, vm_lck_kb};

fn pool() -> Pool {
    Pool::with_options(Options::new().backend(Backend::Mprotect))
}

/// A pool whose arenas are `memfd_secret` memory, if this kernel offers it
/// (Linux 6.5+, or 5.14+ booted with `secretmem.enable=1`); else says why not.
#[cfg(target_os = "linux")]
fn secret_pool(test: &str) -> Option<Pool> {
    let pool = Pool::with_options(
        Options::new().backend(Backend::Mprotect).memory(MemoryPolicy::RequireSecret),
    );
    match Protected::<[u8; 32]>::zeroed_in(&pool) {
        Ok(_) => Some(pool),
        Err(Error::SecretMemory { source }) => {
            eprintln!("{test}: skipped: no memfd_secret here ({source})");
            None
        }
        Err(other) => panic!("{test}: {other}"),
    }
}

/// Pooled `[u8; 32]` secrets (64-byte slots), each holding its index, spread
/// over the first pages of one arena.
#[cfg(target_os = "linux")]
fn secrets(pool: &Pool, n: usize) -> Vec<Protected<[u8; 32]>> {
    (0..n)
        .map(|i| Protected::init_with_in(pool, |k: &mut [u8; 32]| k.fill(value(i))).unwrap())
        .collect()
}

#[cfg(target_os = "linux")]
fn value(i: usize) -> u8 {
    u8::try_from(i % 251).unwrap() + 1
}

/// The secrets' arena pages are all sealed, and every secret still holds its
/// value. Frees some filler maps first: reading `/proc/self/maps` allocates.
#[cfg(target_os = "linux")]
fn check_sealed_and_intact(what: &str, keys: &[Protected<[u8; 32]>], filler: &mut Vec<usize>) {
    release_maps(filler, 64);
    let arena = keys[0].info().data_pages;
    let open: Vec<_> = maps_in(arena).into_iter().filter(|(.., p)| !p.starts_with("---")).collect();
    assert!(open.is_empty(), "{what}: arena pages open outside any scope: {open:x?}");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(*key.read().unwrap(), [value(i); 32], "{what}: secret {i} lost");
    }
}

/// Index of the first secret on arena page `page` (64 slots of 64 bytes a page;
/// slot `i` starts at `(i + 1) * 64`).
#[cfg(target_os = "linux")]
fn on_page(page: usize) -> usize {
    page * 64
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[cfg(target_os = "linux")] // vm.max_map_count, /proc/self/maps
#[test]
fn at_the_map_count_limit_scopes_open_and_close_on_adjacent_pages() {
    in_child("at_the_map_count_limit_scopes_open_and_close_on_adjacent_pages", &[], || {
        scopes_on_adjacent_pages_at_the_limit(&pool());
    });
}

/// The fourth review's case 2: a `memfd_secret` pool (shared mappings, which
/// cannot carry the flag that keeps anonymous pages apart) at the map-count
/// limit, three read scopes on adjacent pages of one arena, the middle one
/// closes: the page is re-sealed (it is a mapping of its own), nothing is left
/// readable, nothing is lost.
#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[cfg(target_os = "linux")] // vm.max_map_count, /proc/self/maps
#[test]
fn at_the_map_count_limit_a_secret_memory_pool_reseals_the_middle_page() {
    let test = "at_the_map_count_limit_a_secret_memory_pool_reseals_the_middle_page";
    in_child(test, &[], || {
        if let Some(pool) = secret_pool(test) {
            scopes_on_adjacent_pages_at_the_limit(&pool);
        }
    });
}

#[cfg(target_os = "linux")]
fn scopes_on_adjacent_pages_at_the_limit(pool: &Pool) {
    {
        let mut keys = secrets(pool, on_page(6));
        let mut filler = exhaust_map_count(0);
        {
            // Three adjacent pages open for reading, then the middle one closes.
            let a = keys[on_page(2)].read().unwrap();
            let b = keys[on_page(3)].read().unwrap();
            let c = keys[on_page(4)].read().unwrap();
            drop(b);
            assert_eq!(a[0], value(on_page(2)));
            assert_eq!(c[0], value(on_page(4)));
        }
        {
            // A page open for writing next to sealed ones; a read scope on a
            // neighbour page opens and closes meanwhile.
            let (left, right) = keys.split_at_mut(on_page(3));
            let mut w = right[0].write().unwrap();
            w[1] = value(on_page(3));
            let r = left[on_page(2)].read().unwrap();
            drop(r);
            drop(w);
        }
        check_sealed_and_intact("scopes", &keys, &mut filler);
    }
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[cfg(target_os = "linux")] // vm.max_map_count, /proc/self/maps
#[test]
fn at_the_map_count_limit_dropping_a_secret_costs_no_neighbour() {
    in_child("at_the_map_count_limit_dropping_a_secret_costs_no_neighbour", &[], || {
        let pool = pool();
        let mut keys = secrets(&pool, on_page(6));
        // Remove first (removal from the Vec drops nothing), then drop them while
        // a neighbour's page is open: one on the next page, one on the open page.
        let removed = [on_page(4), on_page(3) + 1];
        let next_page = keys.remove(removed[0]);
        let same_page = keys.remove(removed[1]);
        let mut filler = exhaust_map_count(0);
        {
            let open = keys[on_page(3)].read().unwrap();
            drop(next_page);
            drop(same_page);
            assert_eq!(open[0], value(on_page(3)));
        }
        release_maps(&mut filler, 64);
        let arena = keys[0].info().data_pages;
        assert!(maps_in(arena).iter().all(|(.., p)| p.starts_with("---")), "a page was left open");
        let originals = (0..on_page(6)).filter(|i| !removed.contains(i));
        for (key, original) in keys.iter().zip(originals) {
            assert_eq!(*key.read().unwrap(), [value(original); 32], "neighbour {original} lost");
        }
    });
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[cfg(target_os = "linux")] // vm.max_map_count, /proc/self/maps
#[test]
fn map_count_exhaustion_is_error_map_for_dedicated_and_pooled_secrets() {
    in_child("map_count_exhaustion_is_error_map_for_dedicated_and_pooled_secrets", &[], || {
        for spare in 0..4 {
            let mut filler = exhaust_map_count(spare);
            let dedicated =
                Protected::<[u8; 32]>::zeroed_in(Options::new().backend(Backend::Mprotect));
            assert!(
                matches!(dedicated, Err(Error::Map { .. })),
                "spare {spare}: dedicated: {dedicated:?}"
            );
            let pooled = Protected::<[u8; 32]>::zeroed_in(pool());
            assert!(matches!(pooled, Err(Error::Map { .. })), "spare {spare}: pooled: {pooled:?}");
            let text = dedicated.unwrap_err().to_string();
            assert!(text.contains("vm.max_map_count"), "{text}");
            release_maps(&mut filler, usize::MAX);
        }
    });
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn repeated_lockdowns_strand_no_arena() {
    in_child("repeated_lockdowns_strand_no_arena", &[], || {
        let pool = pool();
        #[cfg(target_os = "linux")]
        let baseline = vm_lck_kb();
        for round in 0..support::rounds(200) {
            let secret = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(1)).unwrap();
            let report = siegel::lockdown();
            assert_eq!(report.deferred, 0, "round {round}");
            assert!(matches!(secret.read(), Err(Error::Poisoned)));
            drop(secret);
        }
        assert!(pool.info().arenas <= 1, "{} arenas stranded", pool.info().arenas);
        #[cfg(target_os = "linux")] // VmLck, from /proc/self/status
        {
            let locked = vm_lck_kb();
            assert!(locked <= baseline + 64, "VmLck grew from {baseline} kB to {locked} kB");
        }
    });
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn a_leaked_guard_on_a_pooled_secret_ends_with_the_secret() {
    in_child("a_leaked_guard_on_a_pooled_secret_ends_with_the_secret", &[], || {
        let pool = pool();
        let _anchor = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
        let leaky = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(7)).unwrap();
        #[cfg_attr(not(target_os = "linux"), allow(unused_variables, reason = "for /proc"))]
        let page = leaky.info().data_pages.start
            + 4096 * ((leaky.info().secret.start - leaky.info().data_pages.start) / 4096);
        core::mem::forget(leaky.read().unwrap());
        drop(leaky);
        let unrelated = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(8)).unwrap();
        #[cfg(target_os = "linux")] // /proc/self/maps
        {
            let maps = maps_in(page..page + 4096);
            assert!(maps.iter().all(|(.., p)| p == "---p"), "leaked access spilled: {maps:x?}");
        }
        let report = siegel::lockdown();
        assert_eq!(report.deferred, 0, "the leak must not defer the arena's wipe");
        assert!(matches!(unrelated.read(), Err(Error::Poisoned)));
    });
}
