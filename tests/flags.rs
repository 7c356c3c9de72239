//! The kernel's view of a region, from `/proc/self/smaps`: data pages are locked
//! (`lo`), left out of core dumps (`dd`) and of fork children (`dc`); guard pages and
//! sealed pages are inaccessible.
//!
//! On Windows (no smaps, no such flags) only the page protection is checked, from
//! `VirtualQuery`.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

#[cfg(target_os = "linux")]
use siegel::MlockPolicy;
use siegel::{Backend, Protected};
use support::opts;
#[cfg(target_os = "linux")]
use support::{backends, drop_cap_ipc_lock, in_child, set_memlock_limit, vm_flags};

#[cfg(target_os = "linux")]
fn has(flags: &[String], flag: &str) -> bool {
    flags.iter().any(|f| f == flag)
}

/// Whether the page at `addr` is readable and writable: smaps' `rd` and `wr`.
#[cfg(target_os = "linux")]
fn prot(addr: usize) -> (bool, bool) {
    let flags = vm_flags(addr);
    (has(&flags, "rd"), has(&flags, "wr"))
}

/// Whether the page at `addr` is readable and writable, from `VirtualQuery`'s
/// `Protect` (siegel uses `PAGE_NOACCESS`, `PAGE_READONLY`, `PAGE_READWRITE`).
#[cfg(windows)]
fn prot(addr: usize) -> (bool, bool) {
    use windows_sys::Win32::System::Memory::{
        MEM_COMMIT, PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE,
    };
    let info = support::virtual_query(addr).unwrap();
    assert_eq!(info.State, MEM_COMMIT, "{addr:#x} is not committed");
    match info.Protect {
        PAGE_NOACCESS => (false, false),
        PAGE_READONLY => (true, false),
        PAGE_READWRITE => (true, true),
        other => panic!("{addr:#x}: unexpected protection {other:#x}"),
    }
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[cfg(target_os = "linux")] // smaps flags
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
#[cfg(target_os = "linux")] // smaps flags (Windows: guard pages, tests/windows.rs)
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
    assert_eq!(prot(addr), (false, false), "sealed at rest");
    {
        let _read = secret.read().unwrap();
        assert_eq!(prot(addr), (true, false), "read scope");
        let _nested = secret.read().unwrap();
        assert_eq!(prot(addr), (true, false), "nested read scope");
    }
    assert_eq!(prot(addr), (false, false), "re-sealed");
    {
        let _write = secret.write().unwrap();
        assert_eq!(prot(addr), (true, true), "write scope");
    }
    assert_eq!(prot(addr), (false, false), "re-sealed after write");
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[cfg(target_os = "linux")] // smaps flags, RLIMIT_MEMLOCK
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
