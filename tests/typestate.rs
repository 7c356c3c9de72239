//! Handles, guards and transitions behave as their types say, and scopes on an
//! open region make no system call.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

use siegel::{Backend, Dedicated, Mechanism, Protected, ReadOnly, ReadWrite};
use support::{backends, opts};
#[cfg(target_os = "linux")]
use support::{forbid_mprotect, in_child, pku_available};

#[test]
fn transitions_keep_the_secret() {
    for backend in backends("transitions_keep_the_secret") {
        let sealed = Protected::init_with_in(opts(backend), |s: &mut [u8; 32]| s.fill(1)).unwrap();
        let mut rw: Protected<[u8; 32], ReadWrite> = sealed.into_read_write().unwrap();
        rw[0] = 2;
        let ro: Protected<[u8; 32], ReadOnly> = rw.into_read_only().unwrap();
        assert_eq!(ro[..2], [2, 1]);
        assert_eq!(ro.read().unwrap()[0], 2, "a scope on an open handle");
        let mut rw = ro.into_read_write().unwrap();
        rw.write().unwrap()[1] = 3;
        let sealed = rw.seal().unwrap();
        let ro = sealed.into_read_only().unwrap();
        let mut sealed = ro.seal().unwrap();
        sealed.write().unwrap()[2] = 4;
        assert_eq!(
            sealed.with_read(|s| Ok::<_, siegel::Error>(s[..3].to_vec())).unwrap(),
            [2, 3, 4]
        );
    }
}

#[test]
fn slices_and_in_place_initialisation() {
    for backend in backends("slices_and_in_place_initialisation") {
        let opts = opts(backend);
        let mut bytes =
            Protected::init_slice_with_in(opts, 100, |s: &mut [u8]| s.copy_from_slice(&[7; 100]))
                .unwrap();
        assert_eq!(bytes.read().unwrap().len(), 100);
        bytes.write().unwrap()[99] = 8;
        assert_eq!(bytes.read().unwrap()[98..], [7, 8]);
        let words = Protected::<[u64]>::zeroed_slice_in(opts, 3).unwrap();
        assert_eq!(*words.read().unwrap(), [0, 0, 0]);
    }
}

#[test]
fn take_moves_the_secret_and_wipes_the_source() {
    let mut source = [0xABu8; 48];
    let secret = Protected::take_in(Dedicated, &mut source).unwrap();
    assert_eq!(source, [0; 48]);
    assert_eq!(*secret.read().unwrap(), [0xAB; 48]);
    let mut buffer = vec![0x5Au8; 20];
    let secret = Protected::<[u8]>::take_in(Dedicated, &mut buffer[..]).unwrap();
    assert_eq!(buffer, [0; 20]);
    assert_eq!(*secret.read().unwrap(), [0x5A; 20]);
}

#[test]
fn debug_never_shows_the_secret() {
    let secret =
        Protected::<[u8; 4]>::init_with_in(Dedicated, |s| *s = *b"\xDE\xAD\xBE\xEF").unwrap();
    let guard = secret.read().unwrap();
    for text in [format!("{secret:?}"), format!("{guard:?}"), format!("{secret:#?}")] {
        assert!(text.contains("[REDACTED]"), "{text}");
        assert!(!text.contains("222") && !text.to_lowercase().contains("de"), "{text}");
    }
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn failed_transition_hands_the_handle_back() {
    // A corrupted canary makes `into_read_only` fail; the handle comes back sealed
    // and still drops (wipes) cleanly.
    let mut secret = Protected::<[u8; 8]>::zeroed_in(opts(Backend::Mprotect)).unwrap();
    let below = secret.info().secret.start - 1;
    {
        let _open = secret.write().unwrap();
        let byte = core::ptr::with_exposed_provenance_mut::<u8>(below);
        #[allow(unsafe_code, reason = "simulates a one-byte underflow")]
        // SAFETY: the byte below the secret is the canary, inside the open data pages.
        let old = unsafe { byte.read_volatile() };
        #[allow(unsafe_code, reason = "simulates a one-byte underflow")]
        // SAFETY: as above; flipped, so the canary changes for certain.
        unsafe {
            byte.write_volatile(!old);
        }
    }
    let err = secret.into_read_write().unwrap_err();
    assert!(matches!(err.error(), siegel::Error::CanaryCorrupted));
    let handle = err.into_handle();
    assert_eq!(handle.info().mechanism, Mechanism::PageProtection);
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn (seccomp)")]
#[cfg(target_os = "linux")] // seccomp
#[test]
fn nested_scopes_on_an_open_region_make_no_syscall() {
    in_child("nested_scopes_on_an_open_region_make_no_syscall", &[], || {
        let secret =
            Protected::init_with_in(opts(Backend::Mprotect), |s: &mut [u8; 32]| s.fill(5)).unwrap();
        let other = Protected::<[u8; 32]>::zeroed_in(opts(Backend::Mprotect)).unwrap();
        let outer = secret.read().unwrap();
        forbid_mprotect();
        for _ in 0..10_000 {
            let inner = secret.read().unwrap();
            assert_eq!(inner[31], 5);
        }
        // The filter is live: opening a sealed region needs mprotect, which fails.
        assert!(matches!(other.read(), Err(siegel::Error::Protect { call: "mprotect", .. })));
        assert_eq!(outer[0], 5);
        // Exit without closing `outer` (its mprotect would fail under the filter).
        std::process::exit(0);
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[cfg(target_os = "linux")] // protection keys, seccomp
#[test]
fn pku_scopes_make_no_syscall() {
    let test = "pku_scopes_make_no_syscall";
    if !pku_available(test) {
        return;
    }
    in_child(test, &[], || {
        let mut secret =
            Protected::init_with_in(opts(Backend::Pku), |s: &mut [u8; 32]| s.fill(5)).unwrap();
        let page = Protected::<[u8; 32]>::zeroed_in(opts(Backend::Mprotect)).unwrap();
        assert!(matches!(secret.info().mechanism, Mechanism::ProtectionKey { .. }));
        forbid_mprotect();
        for round in 0..10_000u32 {
            assert_eq!(secret.read().unwrap()[0], 5);
            secret.write().unwrap()[1] = u8::try_from(round % 200).unwrap();
        }
        assert!(matches!(page.read(), Err(siegel::Error::Protect { .. })), "filter is live");
        std::process::exit(0);
    });
}
