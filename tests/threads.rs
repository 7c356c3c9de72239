//! Threads: sealed handles move and are shared; overlapping scopes on several
//! threads at once never fault and always see the secret.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

use std::{sync::Arc, thread};

use siegel::{Backend, Protected};
use support::{backends, opts};

const THREADS: usize = 4;
const ROUNDS: usize = 3_000;

fn stress_overlapping_read_scopes(backend: Backend) {
    let secret = Arc::new(
        Protected::init_with_in(opts(backend), |s: &mut [u8; 64]| {
            s.iter_mut().zip(1..).for_each(|(b, i)| *b = i);
        })
        .unwrap(),
    );
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let secret = Arc::clone(&secret);
            thread::spawn(move || {
                let mut sum = 0u64;
                for round in 0..ROUNDS {
                    let outer = secret.read().unwrap();
                    let inner = secret.read().unwrap();
                    // Close in both orders, alternating with thread and round.
                    if (round + t) % 2 == 0 {
                        drop(outer);
                        sum += u64::from(inner[63]);
                        drop(inner);
                    } else {
                        drop(inner);
                        sum += u64::from(outer[0]);
                        drop(outer);
                    }
                    let byte = secret.read().unwrap()[round % 64];
                    assert_eq!(usize::from(byte), round % 64 + 1);
                }
                sum
            })
        })
        .collect();
    for (t, worker) in workers.into_iter().enumerate() {
        let sum = worker.join().expect("no reader faulted or panicked");
        let expected: u64 =
            (0..ROUNDS).map(|round| if (round + t) % 2 == 0 { 64 } else { 1 }).sum();
        assert_eq!(sum, expected);
    }
    // Everything closed again: a writer can open, on the original handle.
    let mut secret = Arc::into_inner(secret).expect("last owner");
    secret.write().unwrap()[0] = 0xFF;
    assert_eq!(secret.read().unwrap()[0], 0xFF);
}

#[cfg_attr(
    miri,
    ignore = "4 threads x 3,000 rounds: too slow under Miri; tests/miri_threads.rs runs it scaled down"
)]
#[test]
fn many_threads_overlapping_read_scopes_on_one_region() {
    for backend in backends("many_threads_overlapping_read_scopes_on_one_region") {
        stress_overlapping_read_scopes(backend);
    }
}

#[cfg_attr(
    miri,
    ignore = "4 threads x 3,000 rounds: too slow under Miri; tests/miri_threads.rs runs it scaled down"
)]
#[test]
fn a_long_read_scope_survives_other_threads_closing_theirs() {
    for backend in backends("a_long_read_scope_survives_other_threads_closing_theirs") {
        let secret =
            Protected::init_with_in(opts(backend), |s: &mut [u64; 4]| *s = [1, 2, 3, 4]).unwrap();
        let held = secret.read().unwrap();
        thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    for _ in 0..ROUNDS {
                        assert_eq!(secret.read().unwrap()[3], 4);
                    }
                });
            }
        });
        // Other threads closed their scopes thousands of times: ours is still open.
        assert_eq!(held.iter().sum::<u64>(), 10);
    }
}

#[test]
fn sealed_handles_move_between_threads() {
    for backend in backends("sealed_handles_move_between_threads") {
        let secret = Protected::init_with_in(opts(backend), |s: &mut [u8; 16]| s.fill(3)).unwrap();
        let secret = thread::spawn(move || {
            let mut secret = secret;
            secret.write().unwrap()[0] = 4;
            secret
        })
        .join()
        .unwrap();
        assert_eq!(secret.read().unwrap()[..2], [4, 3]);
        // Dropped (and wiped) on another thread than the one that made it.
        thread::spawn(move || drop(secret)).join().unwrap();
    }
}

#[cfg_attr(
    miri,
    ignore = "800 regions, each wiped byte by byte: too slow under Miri; tests/miri_threads.rs runs it scaled down"
)]
#[test]
fn every_thread_gets_its_own_regions() {
    for backend in backends("every_thread_gets_its_own_regions") {
        thread::scope(|scope| {
            for t in 0..THREADS {
                scope.spawn(move || {
                    for round in 0..200u32 {
                        let value = round * 31 + u32::try_from(t).unwrap();
                        let mut secret: Protected<u32> =
                            Protected::init_with_in(opts(backend), |v| *v = value).unwrap();
                        *secret.write().unwrap() += 1;
                        assert_eq!(*secret.read().unwrap(), value + 1);
                    }
                });
            }
        });
    }
}
