//! Canaries catch what real bugs write: a zero byte just below a secret (a NUL
//! terminator, `memset(.., 0, n + 1)`) every time, dedicated and pooled, every
//! size and alignment, both backends; a one-byte overflow past a pooled secret
//! fails the writer's next open, and never a later, unrelated allocation.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "these tests simulate one-byte underflows and overflows")]

mod support;

use siegel::{Backend, Error, Plain, Pool, Protected};
use support::{backends, opts};

/// Fresh secrets per case (see `support::rounds`).
fn rounds() -> usize {
    support::rounds(1000)
}

fn poke(addr: usize, value: u8) {
    // SAFETY: the tests point this at a byte of a page open for writing.
    unsafe { core::ptr::with_exposed_provenance_mut::<u8>(addr).write_volatile(value) };
}

/// Writes a zero just below each of `rounds()` fresh secrets made by `make`, and
/// expects every one of them to fail its next open with `CanaryCorrupted`.
fn zero_underflows<T: Plain>(what: &str, mut make: impl FnMut() -> Protected<T>) {
    let mut missed = 0;
    let rounds = rounds();
    for _ in 0..rounds {
        let mut secret = make();
        let below = secret.info().secret.start - 1;
        {
            let _open = secret.write().unwrap();
            poke(below, 0);
        }
        if !matches!(secret.read(), Err(Error::CanaryCorrupted)) {
            missed += 1;
        }
    }
    assert_eq!(missed, 0, "{what}: {missed}/{rounds} zero underflows missed");
}

#[repr(C, align(64))]
struct Aligned([u8; 64]);

// SAFETY: a byte array behind `repr(C)`: all-zero valid, no pointers, no drop
// glue, no interior mutability.
unsafe impl Plain for Aligned {}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn every_zero_underflow_below_a_dedicated_secret_is_caught() {
    for backend in backends("every_zero_underflow_below_a_dedicated_secret_is_caught") {
        let o = opts(backend);
        zero_underflows(&format!("{backend:?} [u8; 8]"), || {
            Protected::<[u8; 8]>::zeroed_in(o).unwrap()
        });
        zero_underflows(&format!("{backend:?} [u8; 32]"), || {
            Protected::<[u8; 32]>::zeroed_in(o).unwrap()
        });
        zero_underflows(&format!("{backend:?} [u64; 3]"), || {
            Protected::<[u64; 3]>::zeroed_in(o).unwrap()
        });
        zero_underflows(&format!("{backend:?} align 64"), || {
            Protected::<Aligned>::zeroed_in(o).unwrap()
        });
    }
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn every_zero_underflow_below_a_pooled_secret_is_caught() {
    for backend in backends("every_zero_underflow_below_a_pooled_secret_is_caught") {
        let pool = Pool::with_options(opts(backend));
        let p = &pool;
        zero_underflows(&format!("{backend:?} pooled [u8; 8]"), || {
            Protected::<[u8; 8]>::zeroed_in(p).unwrap()
        });
        zero_underflows(&format!("{backend:?} pooled [u8; 24]"), || {
            Protected::<[u8; 24]>::zeroed_in(p).unwrap()
        });
        zero_underflows(&format!("{backend:?} pooled [u8; 32]"), || {
            Protected::<[u8; 32]>::zeroed_in(p).unwrap()
        });
        zero_underflows(&format!("{backend:?} pooled [u8; 100]"), || {
            Protected::<[u8; 100]>::zeroed_in(p).unwrap()
        });
        zero_underflows(&format!("{backend:?} pooled [u128; 3]"), || {
            Protected::<[u128; 3]>::zeroed_in(p).unwrap()
        });
        zero_underflows(&format!("{backend:?} pooled align 64"), || {
            Protected::<Aligned>::zeroed_in(p).unwrap()
        });
    }
}

/// A zero written at each byte of a pooled slot below its secret (the padding
/// and the canary), one fresh secret per byte, for sizes whose padding is
/// none, less than one canary's length, one, several, and not a multiple of
/// it: every byte is checked at the next open (the check compares the padding
/// in words, the last 16 bytes first).
fn every_byte_below_a_pooled_secret<const N: usize>(backend: Backend) {
    let pool = Pool::with_options(opts(backend));
    // Slots are 32, 64, 128, … bytes: the smallest that holds the secret and
    // its 16-byte canary; the secret ends where its slot ends.
    let slot = [32, 64, 128, 256, 512].into_iter().find(|&c| c >= N + 16).unwrap();
    let mut missed = Vec::new();
    for below in 1..=slot - N {
        let mut secret = Protected::<[u8; N]>::zeroed_in(&pool).unwrap();
        let info = secret.info();
        assert_eq!(info.secret.end % slot, 0, "[u8; {N}] ends its {slot}-byte slot");
        {
            let _open = secret.write().unwrap();
            poke(info.secret.start - below, 0);
        }
        if !matches!(secret.read(), Err(Error::CanaryCorrupted)) {
            missed.push(below);
        }
    }
    assert!(
        missed.is_empty(),
        "{backend:?} [u8; {N}]: zeros missed at these bytes below: {missed:?}"
    );
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn every_byte_of_a_pooled_slots_padding_and_canary_is_checked() {
    for backend in backends("every_byte_of_a_pooled_slots_padding_and_canary_is_checked") {
        every_byte_below_a_pooled_secret::<16>(backend); // no padding
        every_byte_below_a_pooled_secret::<8>(backend); // 8 bytes
        every_byte_below_a_pooled_secret::<40>(backend); // 8 bytes
        every_byte_below_a_pooled_secret::<32>(backend); // one copy of the canary
        every_byte_below_a_pooled_secret::<20>(backend); // 28: the last 16 rotated
        every_byte_below_a_pooled_secret::<80>(backend); // 32: two copies
        every_byte_below_a_pooled_secret::<150>(backend); // 90: five copies and 10
    }
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn a_zero_overflow_past_a_pooled_secret_fails_the_writer_not_the_next_allocation() {
    for backend in
        backends("a_zero_overflow_past_a_pooled_secret_fails_the_writer_not_the_next_allocation")
    {
        let mut caught = 0;
        let rounds = support::rounds(300);
        for _ in 0..rounds {
            let pool = Pool::with_options(opts(backend));
            let mut writer = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
            let end = writer.info().secret.end;
            {
                let _open = writer.write().unwrap();
                poke(end, 0); // the next slot is free: its canary takes the zero
            }
            if matches!(writer.read(), Err(Error::CanaryCorrupted)) {
                caught += 1;
            }
            // The next allocation takes the slot the overflow hit, and works.
            let next = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(9)).unwrap();
            assert_eq!(next.info().secret.start, end + 32, "{backend:?}: the slot after");
            assert_eq!(*next.read().unwrap(), [9; 32], "{backend:?}: an unrelated secret failed");
        }
        assert_eq!(caught, rounds, "{backend:?}: overflows caught at the writer's next open");
    }
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn pooled_neighbours_of_an_overflow_see_it_only_when_it_reached_past_their_canary() {
    for backend in
        backends("pooled_neighbours_of_an_overflow_see_it_only_when_it_reached_past_their_canary")
    {
        let pool = Pool::with_options(opts(backend));
        // [u8; 8] in 32-byte slots: canary 16, padding 8, secret 8.
        let mut writer = Protected::<[u8; 8]>::zeroed_in(&pool).unwrap();
        let neighbour = Protected::init_with_in(&pool, |k: &mut [u8; 8]| k.fill(3)).unwrap();
        let end = writer.info().secret.end;
        assert_eq!(neighbour.info().secret.start, end + 24);
        {
            let _open = writer.write().unwrap();
            for i in 0..20 {
                poke(end + i, 0); // through the canary into the padding
            }
        }
        assert!(matches!(writer.read(), Err(Error::CanaryCorrupted)), "{backend:?}: writer");
        assert!(
            matches!(neighbour.read(), Err(Error::CanaryCorrupted)),
            "{backend:?}: a neighbour whose padding was overwritten must not open"
        );
    }
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn a_poisoned_writer_drops_cleanly_and_its_slot_is_reused() {
    let pool = Pool::with_options(opts(Backend::Mprotect));
    let mut writer = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
    let at = writer.info().secret;
    {
        let _open = writer.write().unwrap();
        poke(at.start - 1, 0);
    }
    assert!(matches!(writer.read(), Err(Error::CanaryCorrupted)));
    drop(writer);
    let fresh = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
    assert_eq!(fresh.info().secret, at, "the slot is reused");
    assert_eq!(*fresh.read().unwrap(), [0; 32], "with a renewed canary");
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn a_pooled_writer_caught_overflowing_reads_as_poisoned_and_its_neighbour_does_not() {
    for backend in
        backends("a_pooled_writer_caught_overflowing_reads_as_poisoned_and_its_neighbour_does_not")
    {
        let pool = Pool::with_options(opts(backend));
        let neighbour = Protected::init_with_in(&pool, |k: &mut [u8; 32]| k.fill(5)).unwrap();
        let mut writer = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
        assert!(!writer.info().poisoned && !neighbour.info().poisoned, "{backend:?}: before");
        let end = writer.info().secret.end;
        {
            let _open = writer.write().unwrap();
            poke(end, 0); // into the next (free) slot's canary
        }
        // A handle's liveness check reads its slot's state once the arena is
        // marked: the writer's slot is corrupted, the neighbour's is not.
        assert!(writer.info().poisoned, "{backend:?}: the writer's slot is corrupted");
        assert!(!neighbour.info().poisoned, "{backend:?}: the neighbour is untouched");
        assert_eq!(*neighbour.read().unwrap(), [5; 32], "{backend:?}: the neighbour opens");
    }
}
