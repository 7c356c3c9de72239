//! Limits and bad input give typed, actionable errors — never an abort.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

use siegel::{pku_support, Backend, Dedicated, Error, Mechanism, Options, Protected};
#[cfg(target_os = "linux")]
use support::{drop_cap_ipc_lock, set_memlock_limit};
use support::{in_child, opts};

#[cfg(target_os = "linux")]
const CANARY_LEN: usize = 16;

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[cfg(target_os = "linux")] // RLIMIT_MEMLOCK, capabilities
#[test]
fn lowered_memlock_limit_gives_the_typed_error() {
    in_child("lowered_memlock_limit_gives_the_typed_error", &[], || {
        drop_cap_ipc_lock();
        set_memlock_limit(0);
        match Protected::<[u8; 32]>::zeroed_in(opts(Backend::Mprotect)) {
            Err(Error::MemoryLock { requested, limit, .. }) => {
                assert_eq!(limit, Some(0));
                assert!(requested >= 32);
            }
            other => panic!("expected Error::MemoryLock, got {other:?}"),
        }
        let message =
            Protected::<[u8; 32]>::zeroed_in(opts(Backend::Mprotect)).unwrap_err().to_string();
        assert!(message.contains("RLIMIT_MEMLOCK") && message.contains("ulimit -l"), "{message}");
    });
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[cfg(target_os = "linux")] // RLIMIT_MEMLOCK, capabilities
#[test]
fn sizes_reach_exactly_the_memlock_limit() {
    in_child("sizes_reach_exactly_the_memlock_limit", &[], || {
        const LIMIT: usize = 1 << 20;
        drop_cap_ipc_lock();
        set_memlock_limit(u64::try_from(LIMIT).unwrap());
        let opts = opts(Backend::Mprotect);
        let fits = Protected::<[u8]>::zeroed_slice_in(opts, LIMIT - CANARY_LEN)
            .expect("a region of the limit");
        assert_eq!(fits.read().unwrap().len(), LIMIT - CANARY_LEN);
        drop(fits);
        let one_byte = Protected::<[u8]>::zeroed_slice_in(opts, 1).expect("one byte");
        drop(one_byte);
        assert!(matches!(
            Protected::<[u8]>::zeroed_slice_in(opts, LIMIT - CANARY_LEN + 1),
            Err(Error::MemoryLock { .. })
        ));
    });
}

#[cfg_attr(miri, ignore = "a 3 MiB region wiped byte by byte: too slow under Miri")]
#[test]
fn regions_larger_than_a_mebibyte_work() {
    let len = 3 << 20;
    let mut big = Protected::<[u8]>::zeroed_slice_in(opts(Backend::Mprotect), len).unwrap();
    big.write().unwrap()[len - 1] = 0xEE;
    let read = big.read().unwrap();
    assert_eq!((read.len(), read[len - 1], read[0]), (len, 0xEE, 0));
}

#[test]
fn tiny_and_empty_secrets_work() {
    let mut one = Protected::<u8>::zeroed_in(Dedicated).unwrap();
    *one.write().unwrap() = 5;
    assert_eq!(*one.read().unwrap(), 5);
    let empty = Protected::<[u64]>::zeroed_slice_in(Dedicated, 0).unwrap();
    assert!(empty.read().unwrap().is_empty());
}

#[test]
fn absurd_sizes_are_rejected() {
    assert!(matches!(
        Protected::<[u64]>::zeroed_slice_in(Dedicated, usize::MAX / 4),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        Protected::<[u8]>::zeroed_slice_in(Dedicated, usize::MAX - 4),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn forced_pku_errors_where_pku_is_missing() {
    let support = pku_support();
    let result = Protected::<[u8; 32]>::zeroed_in(Options::new().backend(Backend::Pku));
    if support.is_available() {
        let secret = result.expect("PKU is available");
        assert!(matches!(secret.info().mechanism, Mechanism::ProtectionKey { .. }));
    } else {
        match result {
            Err(Error::PkuUnavailable { support: reported }) => assert_eq!(reported, support),
            other => panic!("expected Error::PkuUnavailable, got {other:?}"),
        }
    }
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn siegel_backend_env_mprotect_selects_page_protection() {
    let test = "siegel_backend_env_mprotect_selects_page_protection";
    in_child(test, &[("SIEGEL_BACKEND", "mprotect")], || {
        let secret = Protected::<u64>::zeroed_in(Dedicated).unwrap();
        assert_eq!(secret.info().mechanism, Mechanism::PageProtection);
    });
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn siegel_backend_env_rejects_unknown_values() {
    in_child("siegel_backend_env_rejects_unknown_values", &[("SIEGEL_BACKEND", "bogus")], || {
        match Protected::<u64>::zeroed_in(Dedicated) {
            Err(Error::InvalidBackend { value }) => assert_eq!(value, "bogus"),
            other => panic!("expected Error::InvalidBackend, got {other:?}"),
        }
        // An explicit choice in code does not consult the variable.
        Protected::<u64>::zeroed_in(Options::new().backend(Backend::Mprotect)).unwrap();
    });
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn siegel_backend_env_pku_is_honoured_or_an_error() {
    in_child(
        "siegel_backend_env_pku_is_honoured_or_an_error",
        &[("SIEGEL_BACKEND", "pku")],
        || match Protected::<u64>::zeroed_in(Dedicated) {
            Ok(secret) => {
                assert!(pku_support().is_available());
                assert!(matches!(secret.info().mechanism, Mechanism::ProtectionKey { .. }));
            }
            Err(Error::PkuUnavailable { .. }) => assert!(!pku_support().is_available()),
            Err(other) => panic!("unexpected {other:?}"),
        },
    );
}
