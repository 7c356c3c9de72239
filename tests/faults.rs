//! Illegal accesses die by SIGSEGV (in a child process), on every backend this
//! machine has; an underflow into the canary is reported on the next open.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "these tests simulate memory-safety bugs")]

mod support;

use siegel::{Backend, Error, Mechanism, Protected};
use support::{expect_sigsegv, opts, pku_available};

/// Writes one byte at `addr` with a volatile store.
///
/// # Safety
///
/// None for the program's soundness: the tests point it at guard pages or sealed
/// pages on purpose, in a child process that is expected to die.
unsafe fn poke(addr: usize) {
    // SAFETY:
    // - deliberately invalid: the store faults and kills the child (that is the test).
    unsafe { core::ptr::with_exposed_provenance_mut::<u8>(addr).write_volatile(0x41) };
}

/// Changes the byte at `addr` to another value (its complement). A fixed value
/// would leave a canary byte that already holds it intact (1 in 255 runs).
///
/// # Safety
///
/// `addr` is readable and writable now.
unsafe fn flip(addr: usize) {
    let byte = core::ptr::with_exposed_provenance_mut::<u8>(addr);
    // SAFETY:
    // - readable now (caller).
    let was = unsafe { byte.read_volatile() };
    // SAFETY:
    // - writable now (caller).
    unsafe { byte.write_volatile(!was) };
}

/// Reads one byte at `addr` with a volatile load.
///
/// # Safety
///
/// As for [`poke`].
unsafe fn peek(addr: usize) -> u8 {
    // SAFETY:
    // - deliberately invalid, as for `poke`.
    unsafe { core::ptr::with_exposed_provenance::<u8>(addr).read_volatile() }
}

fn check_mechanism(backend: Backend, mechanism: Mechanism) {
    match backend {
        Backend::Pku => assert!(matches!(mechanism, Mechanism::ProtectionKey { .. })),
        _ => assert_eq!(mechanism, Mechanism::PageProtection),
    }
}

fn overflow_by_one_byte(test: &str, backend: Backend) {
    expect_sigsegv(test, || {
        let mut secret = Protected::<[u8; 32]>::zeroed_in(opts(backend)).unwrap();
        check_mechanism(backend, secret.info().mechanism);
        let end = secret.info().secret.end;
        let _open = secret.write().unwrap();
        // SAFETY: deliberately faults (trailing guard page).
        unsafe { poke(end) };
    });
}

fn underflow_past_the_canary_page(test: &str, backend: Backend) {
    expect_sigsegv(test, || {
        let mut secret = Protected::<[u8; 32]>::zeroed_in(opts(backend)).unwrap();
        let below = secret.info().data_pages.start - 1;
        let _open = secret.write().unwrap();
        // SAFETY: deliberately faults (leading guard page).
        unsafe { poke(below) };
    });
}

fn read_while_sealed(test: &str, backend: Backend) {
    expect_sigsegv(test, || {
        let secret = Protected::init_with_in(opts(backend), |s: &mut [u8; 32]| s.fill(7)).unwrap();
        let start = secret.info().secret.start;
        // SAFETY: deliberately faults (sealed region).
        let byte = unsafe { peek(start) };
        println!("read {byte} from a sealed region");
    });
}

fn write_under_read_only(test: &str, backend: Backend) {
    expect_sigsegv(test, || {
        let secret = Protected::<[u8; 32]>::zeroed_in(opts(backend)).unwrap();
        let guard = secret.read().unwrap();
        let start = guard.as_ptr().addr();
        // SAFETY: deliberately faults (read-only scope).
        unsafe { poke(start) };
        drop(guard);
    });
}

fn write_through_read_only_handle(test: &str, backend: Backend) {
    expect_sigsegv(test, || {
        let secret = Protected::<[u8; 32]>::zeroed_in(opts(backend)).unwrap();
        let open = secret.into_read_only().unwrap();
        let start = open.as_ptr().addr();
        // SAFETY: deliberately faults (read-only handle).
        unsafe { poke(start) };
    });
}

fn canary_tampering_is_an_error_on_open(backend: Backend) {
    let mut secret = Protected::init_with_in(opts(backend), |s: &mut [u8; 32]| s.fill(9)).unwrap();
    assert_eq!(secret.read().unwrap()[0], 9, "intact canary opens");
    let below = secret.info().secret.start - 1;
    {
        let _open = secret.write().unwrap();
        // SAFETY: the byte below the secret is the canary's last byte, inside the
        // data pages, readable and writable during this write scope: this is
        // the one-byte underflow a buggy writer would make.
        unsafe { flip(below) };
    }
    let read = secret.read().map(|_| ());
    assert!(matches!(read, Err(Error::CanaryCorrupted)), "read: {read:?}");
    let write = secret.write().map(|_| ());
    assert!(matches!(write, Err(Error::CanaryCorrupted)), "write: {write:?}");
    match secret.into_read_only() {
        Err(err) => assert!(matches!(err.error(), Error::CanaryCorrupted)),
        Ok(_) => panic!("a corrupted canary must not open"),
    }
}

macro_rules! per_backend {
    ($($name:ident => $check:ident;)*) => {
        mod mprotect {
            use super::*;
            $(
                #[cfg_attr(miri, ignore = "a real fault in a child process, or a pointer forged from an address: neither runs under Miri")]
                #[test]
                fn $name() {
                    $check(concat!("mprotect::", stringify!($name)), Backend::Mprotect);
                }
            )*
        }
        mod pku {
            use super::*;
            $(
                #[cfg_attr(miri, ignore = "protection keys: Miri has none")]
                #[test]
                fn $name() {
                    let test = concat!("pku::", stringify!($name));
                    if pku_available(test) {
                        $check(test, Backend::Pku);
                    }
                }
            )*
        }
    };
}

per_backend! {
    overflow_by_one_byte_hits_the_guard_page => overflow_by_one_byte;
    underflow_past_the_canary_page_hits_the_guard_page => underflow_past_the_canary_page;
    reading_sealed_memory_faults => read_while_sealed;
    writing_in_a_read_scope_faults => write_under_read_only;
    writing_through_a_read_only_handle_faults => write_through_read_only_handle;
    canary_tampering_is_reported => canary_tampering;
}

fn canary_tampering(_test: &str, backend: Backend) {
    canary_tampering_is_an_error_on_open(backend);
}
