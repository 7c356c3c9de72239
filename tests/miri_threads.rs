//! Scopes on several threads at once, sized for Miri (issue #17): the protocol
//! of `tests/threads.rs` (overlapping read scopes closed in both orders, a long
//! scope outliving thousands of others, regions made and dropped per thread)
//! with a few rounds instead of thousands, so that Miri's data-race detector
//! and weak-memory emulation can run it over several seeds
//! (`-Zmiri-many-seeds`). Natively it is a quick smoke test; the real stress
//! runs in `tests/threads.rs` (and under `ThreadSanitizer` in CI).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::{sync::Arc, thread};

use siegel::{Backend, Options, Protected};

const THREADS: usize = 3;
const ROUNDS: usize = 6;

fn opts() -> Options {
    Options::new().backend(Backend::Mprotect)
}

#[test]
fn overlapping_read_scopes_on_several_threads() {
    let secret = Arc::new(
        Protected::init_with_in(opts(), |s: &mut [u8; 64]| {
            s.iter_mut().zip(1..).for_each(|(b, i)| *b = i);
        })
        .unwrap(),
    );
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let secret = Arc::clone(&secret);
            thread::spawn(move || {
                for round in 0..ROUNDS {
                    let outer = secret.read().unwrap();
                    let inner = secret.read().unwrap();
                    if (round + t) % 2 == 0 {
                        drop(outer);
                        assert_eq!(inner[63], 64);
                        drop(inner);
                    } else {
                        drop(inner);
                        assert_eq!(outer[0], 1);
                        drop(outer);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let mut secret = Arc::into_inner(secret).unwrap();
    secret.write().unwrap()[0] = 0xFF;
    assert_eq!(secret.read().unwrap()[0], 0xFF);
}

#[test]
fn a_long_scope_outlives_other_threads_scopes() {
    let secret = Protected::init_with_in(opts(), |s: &mut [u64; 4]| *s = [1, 2, 3, 4]).unwrap();
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
    assert_eq!(held.iter().sum::<u64>(), 10);
}

#[test]
fn threads_make_write_and_drop_their_own_regions() {
    thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                for round in 0..3u32 {
                    let value = round * 31 + u32::try_from(t).unwrap();
                    let mut secret: Protected<u32> =
                        Protected::init_with_in(opts(), |v| *v = value).unwrap();
                    *secret.write().unwrap() += 1;
                    assert_eq!(*secret.read().unwrap(), value + 1);
                }
            });
        }
    });
}

#[test]
fn a_handle_made_on_one_thread_is_written_and_dropped_on_others() {
    let secret = Protected::init_with_in(opts(), |s: &mut [u8; 16]| s.fill(3)).unwrap();
    let secret = thread::spawn(move || {
        let mut secret = secret;
        secret.write().unwrap()[0] = 4;
        secret
    })
    .join()
    .unwrap();
    assert_eq!(secret.read().unwrap()[..2], [4, 3]);
    thread::spawn(move || drop(secret)).join().unwrap();
}
