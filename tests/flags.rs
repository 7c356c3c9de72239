//! The kernel's view of a region, from `/proc/self/smaps`: data pages are locked
//! (`lo`), left out of core dumps (`dd`) and of fork children (`dc`); guard pages and
//! sealed pages are inaccessible.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

use siegel::{Backend, MlockPolicy, Protected};
use support::{backends, drop_cap_ipc_lock, in_child, opts, set_memlock_limit, vm_flags};

fn has(flags: &[String], flag: &str) -> bool {
    flags.iter().any(|f| f == flag)
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[test]
fn data_pages_are_locked_undumpable_and_not_forked() {
    for backend in backends("data_pages_are_locked_undumpable_and_not_forked") {
        let secret = Protected::<[u8; 64]>::zeroed_in(opts(backend)).unwrap();
        assert!(secret.info().locked);
        let flags = vm_flags(secret.info().secret.start);
        for flag in ["lo", "dd", "dc"] {
            assert!(has(&flags, flag), "{backend:?}: data pages lack {flag}: {flags:?}");
        }
    }
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[test]
fn guard_pages_are_inaccessible() {
    for backend in backends("guard_pages_are_inaccessible") {
        let secret = Protected::<[u8; 64]>::zeroed_in(opts(backend)).unwrap();
        let info = secret.info();
        for addr in [info.mapping.start, info.data_pages.end] {
            let flags = vm_flags(addr);
            assert!(!has(&flags, "rd") && !has(&flags, "wr"), "{backend:?}: guard {flags:?}");
            assert!(has(&flags, "dd") && has(&flags, "dc"), "{backend:?}: guard {flags:?}");
        }
    }
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[test]
fn page_protection_follows_the_scopes() {
    let mut secret = Protected::<[u8; 64]>::zeroed_in(opts(Backend::Mprotect)).unwrap();
    let addr = secret.info().secret.start;
    let prot = |flags: Vec<String>| (has(&flags, "rd"), has(&flags, "wr"));
    assert_eq!(prot(vm_flags(addr)), (false, false), "sealed at rest");
    {
        let _read = secret.read().unwrap();
        assert_eq!(prot(vm_flags(addr)), (true, false), "read scope");
        let _nested = secret.read().unwrap();
        assert_eq!(prot(vm_flags(addr)), (true, false), "nested read scope");
    }
    assert_eq!(prot(vm_flags(addr)), (false, false), "re-sealed");
    {
        let _write = secret.write().unwrap();
        assert_eq!(prot(vm_flags(addr)), (true, true), "write scope");
    }
    assert_eq!(prot(vm_flags(addr)), (false, false), "re-sealed after write");
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[test]
fn best_effort_mlock_leaves_an_unlocked_region_when_the_limit_is_hit() {
    in_child("best_effort_mlock_leaves_an_unlocked_region_when_the_limit_is_hit", &[], || {
        drop_cap_ipc_lock();
        set_memlock_limit(0);
        let secret = Protected::<[u8; 64]>::zeroed_in(
            opts(Backend::Mprotect).mlock(MlockPolicy::BestEffort),
        )
        .unwrap();
        assert!(!secret.info().locked);
        let flags = vm_flags(secret.info().secret.start);
        assert!(!has(&flags, "lo") && has(&flags, "dd") && has(&flags, "dc"), "{flags:?}");
    });
}
