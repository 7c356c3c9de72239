//! Under PKU, a scope never opens a secret to another thread: when keys are
//! scarce (16 scopes), pinned by threads that exited with leaked guards, open in
//! a thread that ran other code's `pkey_alloc`, or inherited by a thread spawned
//! during a scope; and a thread that touches a siegel key without a scope ends in
//! a deliberate, explained abort. Each case failed on the previous design.
//!
//! The probes never fault: `readable_here` asks the kernel to copy the byte on
//! the probing thread's behalf, which checks that thread's PKRU. Every case runs
//! in a child (keys are process-wide), and needs PKU: it prints "skipped: no
//! PKU" without it, or fails under `SIEGEL_REQUIRE_PKU=1`.

//!
//! Protection keys (and the signals, `pkey_alloc` and pipes these tests probe them with) are Linux-only: on other systems this file is empty.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "these tests probe addresses and call pkey_alloc")]

mod support;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc, Arc,
    },
    thread,
};

use siegel::{Backend, Error, Mechanism, Options, Pool, Protected};
use support::{
    died_of_siegel_pku_abort, in_child, is_child, pku_available, readable_here, run_child,
};

fn pku() -> Options {
    Options::new().backend(Backend::Pku)
}

fn region(fill: u8) -> Protected<[u8; 32]> {
    Protected::init_with_in(pku(), |s: &mut [u8; 32]| s.fill(fill)).unwrap()
}

/// Runs `body` in a child on a PKU machine.
fn pku_child(test: &str, body: impl FnOnce()) {
    if pku_available(test) {
        in_child(test, &[], body);
    }
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn sixteen_scopes_never_open_a_secret_to_another_thread() {
    pku_child("sixteen_scopes_never_open_a_secret_to_another_thread", || {
        // The other thread exists before any scope opens (a thread spawned during
        // a scope inherits it, which is another test).
        let (to_prober, prober_rx) = mpsc::channel::<Vec<usize>>();
        let prober = thread::spawn(move || {
            let addrs = prober_rx.recv().unwrap();
            addrs.iter().filter(|&&a| readable_here(a)).count()
        });
        let regions: Vec<_> = (0..16).map(region).collect();
        let keyless = regions.iter().position(|r| r.info().mechanism == Mechanism::PageProtection);
        let keyless = keyless.expect("16 regions, 15 keys: one is keyless");
        // Open every keyed region first, so no key can be taken back.
        let guards: Vec<_> =
            (0..16).filter(|&i| i != keyless).map(|i| regions[i].read().unwrap()).collect();
        assert_eq!(guards.len(), 15);
        let last = regions[keyless].read();
        assert!(matches!(last, Err(Error::KeysExhausted)), "the 16th scope: {last:?}");
        to_prober.send(regions.iter().map(|r| r.info().secret.start).collect()).unwrap();
        assert_eq!(prober.join().unwrap(), 0, "another thread read secrets it never opened");
        // This thread reads the 15 it opened, and not the 16th.
        assert!(readable_here(regions[(keyless + 1) % 16].info().secret.start));
        assert!(!readable_here(regions[keyless].info().secret.start));
        drop(guards);
        // With a scope closed, the 16th opens (it takes a key back).
        assert_eq!(regions[keyless].read().unwrap()[0], u8::try_from(keyless).unwrap());
    });
}

/// What a signal handler's probe found: 1 unreadable, 2 readable.
static HANDLER_SAW: AtomicUsize = AtomicUsize::new(0);
static HANDLER_ADDR: AtomicUsize = AtomicUsize::new(0);

extern "C" fn probe_in_handler(_: libc::c_int) {
    let seen = if readable_here(HANDLER_ADDR.load(Ordering::SeqCst)) { 2 } else { 1 };
    HANDLER_SAW.store(seen, Ordering::SeqCst);
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_signal_handler_cannot_read_the_region_whose_scope_was_refused() {
    pku_child("a_signal_handler_cannot_read_the_region_whose_scope_was_refused", || {
        let regions: Vec<_> = (0..16).map(region).collect();
        let keyless =
            regions.iter().position(|r| r.info().mechanism == Mechanism::PageProtection).unwrap();
        let _guards: Vec<_> =
            (0..16).filter(|&i| i != keyless).map(|i| regions[i].read().unwrap()).collect();
        assert!(regions[keyless].read().is_err());
        HANDLER_ADDR.store(regions[keyless].info().secret.start, Ordering::SeqCst);
        #[allow(clippy::as_conversions, reason = "sighandler_t is the handler's address")]
        let handler = probe_in_handler as extern "C" fn(libc::c_int) as usize;
        // SAFETY: the handler only calls async-signal-safe functions.
        unsafe { libc::signal(libc::SIGUSR1, handler) };
        // SAFETY: raise(3) delivers to this thread, whose scopes are open.
        unsafe { libc::raise(libc::SIGUSR1) };
        assert_eq!(HANDLER_SAW.load(Ordering::SeqCst), 1, "the handler read the secret");
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn threads_that_exit_holding_leaked_guards_pin_no_keys() {
    pku_child("threads_that_exit_holding_leaked_guards_pin_no_keys", || {
        let regions: Arc<Vec<Protected<[u8; 32]>>> = Arc::new((0..15).map(region).collect());
        for i in 0..15 {
            let regions = Arc::clone(&regions);
            thread::spawn(move || core::mem::forget(regions[i].read().unwrap())).join().unwrap();
        }
        // A dead thread holds no rights: its leaked scopes are given back, so the
        // keys move to new regions, and later scopes get keys of their own.
        let fresh: Vec<_> = (100..105).map(region).collect();
        for r in &fresh {
            assert_eq!(r.read().unwrap()[0], r.read().unwrap()[1]);
            assert!(
                matches!(r.info().mechanism, Mechanism::ProtectionKey { .. }),
                "{:?}",
                r.info().mechanism
            );
        }
        let report = siegel::lockdown();
        assert_eq!(report.deferred, 0, "{report:?}: leaked scopes of dead threads defer nothing");
    });
}

thread_local! {
    /// A guard kept by a thread until it exits (a thread-local destructor
    /// drops it).
    static KEPT: core::cell::RefCell<Option<siegel::ReadGuard<'static, [u8; 32]>>> =
        const { core::cell::RefCell::new(None) };
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_guard_a_thread_local_drops_at_thread_exit_is_given_back_once() {
    pku_child("a_guard_a_thread_local_drops_at_thread_exit_is_given_back_once", || {
        let secret: &'static Protected<[u8; 32]> = Box::leak(Box::new(region(7)));
        thread::spawn(move || {
            // The slot is made before the thread's first keyed scope, so its
            // destructor runs after the ones registered at that scope.
            KEPT.with(|_| ());
            let guard = secret.read().unwrap();
            KEPT.with(|kept| *kept.borrow_mut() = Some(guard));
        })
        .join()
        .unwrap();
        // The guard was dropped at the thread's exit: nothing is open.
        let report = siegel::lockdown();
        assert_eq!(
            (report.wiped, report.deferred),
            (1, 0),
            "{report:?}: the scope was given back twice (or not at all)"
        );
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_key_opened_by_other_code_is_closed_before_it_guards_a_secret() {
    pku_child("a_key_opened_by_other_code_is_closed_before_it_guards_a_secret", || {
        let (to_worker, worker_rx) = mpsc::channel::<usize>();
        let (done_tx, done) = mpsc::channel::<bool>();
        // Other code, in another thread: the man page's probe. pkey_alloc(0, 0)
        // opens the new key in the calling thread only; pkey_free closes it in
        // none. A worker spawned from that thread inherits the open key.
        let other = thread::spawn(move || {
            // SAFETY: pkey_alloc(flags 0, rights 0) and pkey_free take no pointers.
            let key = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0, 0) };
            assert!(key > 0, "pkey_alloc");
            // SAFETY: as above.
            unsafe { libc::syscall(libc::SYS_pkey_free, key) };
            siegel::thread::spawn(move || {
                let addr = worker_rx.recv().unwrap();
                done_tx.send(readable_here(addr)).unwrap();
            })
        });
        let worker = other.join().unwrap();
        let secret = region(0x77);
        to_worker.send(secret.info().secret.start).unwrap();
        assert!(!done.recv().unwrap(), "a thread of other code read a sealed secret");
        worker.join().unwrap();
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_thread_spawned_during_a_scope_cannot_read_the_next_region_with_that_key() {
    pku_child("a_thread_spawned_during_a_scope_cannot_read_the_next_region_with_that_key", || {
        // Every key but one given to secrets that keep it (siegel hands out
        // clean keys first): the next regions must reuse the one freed key,
        // each after a round that closes it where it may be open.
        let mut held: Vec<Protected<[u8; 32]>> = Vec::new();
        loop {
            let p = Protected::init_with_in(
                pku().on_keys_exhausted(siegel::KeyExhaustion::Fallback),
                |s: &mut [u8; 32]| s.fill(3),
            )
            .unwrap();
            if !matches!(p.info().mechanism, Mechanism::ProtectionKey { .. }) {
                break;
            }
            held.push(p);
        }
        drop(held.pop());
        for round in 0..support::rounds(50) {
            let first = region(1);
            let scope = first.read().unwrap();
            let (tx, rx) = mpsc::channel::<usize>();
            // std's spawn: the child inherits this thread's PKRU, key open.
            let child = thread::spawn(move || readable_here(rx.recv().unwrap()));
            drop(scope);
            let Mechanism::ProtectionKey { key } = first.info().mechanism else { panic!() };
            drop(first);
            let next = region(2);
            assert_eq!(
                next.info().mechanism,
                Mechanism::ProtectionKey { key },
                "round {round}: key reused"
            );
            tx.send(next.info().secret.start).unwrap();
            assert!(!child.join().unwrap(), "round {round}: the child read the next region");
        }
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_busy_process_never_opens_a_secret_to_a_thread_that_did_not_open_it() {
    pku_child("a_busy_process_never_opens_a_secret_to_a_thread_that_did_not_open_it", || {
        let stop = Arc::new(AtomicBool::new(false));
        let long: Arc<Vec<Protected<[u8; 32]>>> = Arc::new((0..8).map(region).collect());
        let pool = Pool::with_options(pku());
        let pooled: Arc<Vec<Protected<[u8; 32]>>> = Arc::new(
            (0..8)
                .map(|i| Protected::init_with_in(&pool, |s: &mut [u8; 32]| s.fill(i)).unwrap())
                .collect(),
        );
        let addrs: Vec<usize> =
            long.iter().chain(pooled.iter()).map(|r| r.info().secret.start).collect();
        let prober = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut hits = 0;
                while !stop.load(Ordering::Relaxed) {
                    hits += addrs.iter().filter(|&&a| readable_here(a)).count();
                }
                hits
            })
        };
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let (long, pooled, pool) = (Arc::clone(&long), Arc::clone(&pooled), pool.clone());
                thread::spawn(move || {
                    for i in 0..support::rounds(200) {
                        let a = &long[(w + i) % long.len()];
                        let b = &pooled[(w * 3 + i) % pooled.len()];
                        // Scopes may be refused while keys are scarce: never widened.
                        if let (Ok(x), Ok(y)) = (a.read(), b.read()) {
                            if let Ok(z) = a.read() {
                                assert_eq!(x[0], z[0]);
                            }
                            assert_eq!(y[0], y[1]);
                        }
                        let short = region(9);
                        let short =
                            short.rotate().unwrap_or_else(siegel::TransitionError::into_handle);
                        if let Ok(s) = short.read() {
                            assert_eq!(s[0], 9);
                        }
                        let p =
                            Protected::init_with_in(&pool, |s: &mut [u8; 32]| s.fill(4)).unwrap();
                        if let Ok(s) = p.read() {
                            assert_eq!(s[31], 4);
                        };
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert_eq!(prober.join().unwrap(), 0, "the prober read secrets it never opened");
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_reference_used_on_another_thread_is_a_deliberate_abort() {
    let test = "a_reference_used_on_another_thread_is_a_deliberate_abort";
    if !pku_available(test) {
        return;
    }
    if is_child(test) {
        support::no_core_dumps();
        // A worker that exists before the scope (a thread pool's, say).
        let (tx, rx) = mpsc::channel::<&'static [u8; 32]>();
        let worker = thread::spawn(move || core::hint::black_box(rx.recv().unwrap()[0]));
        let secret: &'static Protected<[u8; 32]> = Box::leak(Box::new(region(5)));
        let guard = Box::leak(Box::new(secret.read().unwrap()));
        let shared: &'static [u8; 32] = guard;
        // `&[u8; 32]` is Send: the type system allows this; PKU does not.
        tx.send(shared).unwrap();
        println!("read {} on another thread", worker.join().unwrap());
        std::process::exit(0);
    }
    let out = run_child(test, &[]);
    assert!(died_of_siegel_pku_abort(&out), "{out:?}\n{}", String::from_utf8_lossy(&out.stderr));
}
