//! Lockdown and rotation under Miri (issue #17). A lockdown wipes every region of
//! the process, so the native tests run it in child processes, which Miri cannot
//! spawn; this binary holds one test only, so nothing else shares its process.
//! It walks the paths those children take — wiping sealed, open and pooled
//! regions, deferring the wipe of open ones to their last close, guards that
//! refuse to deref afterwards, and a rotation racing a lockdown on another
//! thread — where Miri checks the raw wipes and copies underneath.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::panic::{catch_unwind, AssertUnwindSafe};

use siegel::{Backend, Dedicated, Error, Options, Pool, Protected};

fn opts() -> Options {
    Options::new().backend(Backend::Mprotect)
}

#[test]
fn lockdown_wipes_sealed_open_and_pooled_regions_and_races_rotation() {
    // A rotation racing a lockdown: whichever wins, the caller ends up with a
    // poisoned secret (lockdown began before `rotate` returned).
    for round in 0..3 {
        let secret = Protected::init_with_in(opts(), |s: &mut [u8; 32]| s.fill(3)).unwrap();
        let rotated = std::thread::scope(|s| {
            let rotation = s.spawn(move || secret.rotate());
            if round % 2 == 0 {
                std::thread::yield_now();
            }
            let _ = siegel::lockdown();
            rotation.join().unwrap()
        });
        match rotated {
            Ok(new) => assert!(matches!(new.read(), Err(Error::Poisoned)), "round {round}"),
            Err(err) => assert!(err.into_handle().info().poisoned, "round {round}"),
        }
    }

    let mut sealed = Protected::init_with_in(opts(), |s: &mut [u8; 16]| s.fill(1)).unwrap();
    let open = Protected::init_with_in(opts(), |s: &mut [u8; 16]| s.fill(3)).unwrap();
    let scope = open.read().unwrap();
    let read_only = Protected::init_with_in(opts(), |s: &mut [u8; 32]| s.fill(7)).unwrap();
    let read_only = read_only.into_read_only().map_err(|e| e.into_parts().0).unwrap();
    let mut rw = Protected::<[u8; 32]>::zeroed_in(opts()).unwrap().into_read_write().unwrap();
    // More live regions than one registry chunk holds (64): the registry leaks a
    // second chunk (`Box::leak`, reachable from a static, so Miri's leak check
    // accepts it), and the lockdown walk below crosses into it.
    let many: Vec<Protected<u8>> = (0..66).map(|_| Protected::zeroed_in(opts()).unwrap()).collect();
    let pool = Pool::with_options(opts());
    let pooled_sealed = Protected::init_with_in(&pool, |s: &mut [u8; 24]| s.fill(8)).unwrap();
    let pooled_open = Protected::init_with_in(&pool, |s: &mut [u8; 24]| s.fill(9)).unwrap();
    let pooled_open = pooled_open.into_read_only().map_err(|e| e.into_parts().0).unwrap();

    let report = siegel::lockdown();
    assert!(report.deferred >= 4, "{report:?}");
    assert!(report.wiped > many.len(), "{report:?}");
    assert!(many.iter().all(|k| k.info().poisoned), "the walk reached the second chunk");

    assert!(matches!(sealed.read(), Err(Error::Poisoned)));
    assert!(matches!(sealed.write(), Err(Error::Poisoned)));
    assert!(matches!(pooled_sealed.read(), Err(Error::Poisoned)));
    for (what, deref) in [
        ("guard", catch_unwind(AssertUnwindSafe(|| scope[0]))),
        ("ReadOnly", catch_unwind(AssertUnwindSafe(|| read_only[0]))),
        ("ReadWrite", catch_unwind(AssertUnwindSafe(|| rw[0]))),
        ("pooled ReadOnly", catch_unwind(AssertUnwindSafe(|| pooled_open[0]))),
    ] {
        assert!(deref.is_err(), "a {what} served the secret after lockdown");
    }
    assert!(catch_unwind(AssertUnwindSafe(|| rw[0] = 1)).is_err(), "DerefMut");

    // Each deferred region is wiped when its access closes.
    drop(scope);
    assert!(matches!(open.read(), Err(Error::Poisoned)));
    let resealed = read_only.seal().map_err(|e| e.into_parts().0);
    assert!(resealed.is_ok() || matches!(resealed, Err(Error::Poisoned)));
    drop((resealed, rw, pooled_open, pooled_sealed, open, sealed, many));

    // New regions are unaffected, pooled ones from a fresh arena.
    let fresh = Protected::<u8>::init_with_in(Dedicated, |v| *v = 9).unwrap();
    assert_eq!(*fresh.read().unwrap(), 9);
    let again = Protected::init_with_in(&pool, |s: &mut [u8; 24]| s.fill(6)).unwrap();
    assert_eq!(*again.read().unwrap(), [6; 24]);
}
