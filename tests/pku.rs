//! Protection-key behaviour: what region 16 gets, per-thread isolation. Each test
//! prints "skipped: no PKU" without PKU, and fails then if `SIEGEL_REQUIRE_PKU=1`.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

use std::{collections::HashSet, sync::mpsc, thread};

use siegel::{Backend, Error, KeyExhaustion, Mechanism, Protected};
use support::{expect_sigsegv, in_child, opts, pku_available};

#[test]
fn regions_past_the_last_key_fall_back_to_page_protection() {
    let test = "regions_past_the_last_key_fall_back_to_page_protection";
    if !pku_available(test) {
        return;
    }
    // In a child: the other tests of this binary must not hold keys meanwhile.
    in_child(test, &[], || {
        let mut regions: Vec<Protected<[u8; 32]>> = (0..20u8)
            .map(|i| opts(Backend::Pku).init_with(|s: &mut [u8; 32]| s.fill(i)).unwrap())
            .collect();
        let keys: Vec<u32> = regions
            .iter()
            .filter_map(|r| match r.mechanism() {
                Mechanism::ProtectionKey { key } => Some(key),
                Mechanism::PageProtection => None,
            })
            .collect();
        // x86-64 has 16 keys; key 0 is the default: 15 regions get their own key.
        assert_eq!(keys.len(), 15, "{keys:?}");
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 15, "distinct keys");
        assert!(regions[..15]
            .iter()
            .all(|r| matches!(r.mechanism(), Mechanism::ProtectionKey { .. })));
        assert!(regions[15..].iter().all(|r| r.mechanism() == Mechanism::PageProtection));
        // Every region works, whatever protects it.
        for (i, region) in (0u8..).zip(regions.iter_mut()) {
            assert_eq!(region.read().unwrap()[31], i);
            region.write().unwrap()[0] = i + 100;
            assert_eq!(region.read().unwrap()[0], i + 100);
        }
        // The opt-in policy turns exhaustion into an error.
        let strict = opts(Backend::Pku).on_keys_exhausted(KeyExhaustion::Error);
        assert!(matches!(strict.zeroed::<u64>(), Err(Error::KeysExhausted)));
        // Freeing a region returns its key.
        drop(regions.remove(0));
        let again = strict.zeroed::<u64>().unwrap();
        assert_eq!(again.mechanism(), Mechanism::ProtectionKey { key: keys[0] });
    });
}

#[test]
fn another_thread_cannot_read_while_this_thread_holds_a_scope() {
    let test = "another_thread_cannot_read_while_this_thread_holds_a_scope";
    if !pku_available(test) {
        return;
    }
    expect_sigsegv(test, || {
        let secret = opts(Backend::Pku).init_with(|s: &mut [u8; 32]| s.fill(0x5E)).unwrap();
        let addr = secret.info().secret.start;
        let (go, wait) = mpsc::channel::<()>();
        // Spawned before the scope opens: a thread inherits its creator's PKRU.
        let thief = thread::spawn(move || {
            wait.recv().unwrap();
            #[allow(unsafe_code, reason = "simulates a stray read from another thread")]
            // SAFETY: deliberately faults: the key is closed in this thread's PKRU.
            let byte = unsafe { core::ptr::with_exposed_provenance::<u8>(addr).read_volatile() };
            println!("other thread read {byte:#x}");
        });
        let guard = secret.read().unwrap();
        assert_eq!(guard[0], 0x5E);
        go.send(()).unwrap();
        let _ = thief.join();
        drop(guard);
    });
}
