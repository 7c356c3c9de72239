//! Attacks from safe code on lockdown, the crash wipe and rotation (issue
//! "Soundness", classes 5–7). Each ran against the previous design and broke a
//! promise; each now holds.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "these tests crash children and install signal handlers")]

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
#[cfg(unix)]
use std::sync::atomic::{AtomicUsize, Ordering};

use siegel::{crash::Order, Backend, Dedicated, Error, Options, Pool, Protected};
use support::{backends, in_child, is_child, opts, read_own_memory, run_child};

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn after_lockdown_an_open_handle_hands_out_nothing() {
    in_child("after_lockdown_an_open_handle_hands_out_nothing", &[], || {
        for backend in backends("after_lockdown_an_open_handle_hands_out_nothing") {
            let open =
                Protected::init_with_in(opts(backend), |s: &mut [u8; 32]| s.fill(7)).unwrap();
            let open = open.into_read_only().unwrap();
            let mut rw =
                Protected::<[u8; 32]>::zeroed_in(opts(backend)).unwrap().into_read_write().unwrap();
            let pool = Pool::with_options(opts(backend));
            let pooled = Protected::init_with_in(&pool, |s: &mut [u8; 32]| s.fill(8)).unwrap();
            let pooled = pooled.into_read_only().unwrap();
            assert_eq!(open[0], 7);
            let report = siegel::lockdown();
            // Each open handle is reported as deferred: it holds access open.
            assert!(report.deferred >= 3, "{backend:?}: {report:?}");
            for (what, deref) in [
                ("ReadOnly", catch_unwind(AssertUnwindSafe(|| open[0]))),
                ("ReadWrite", catch_unwind(AssertUnwindSafe(|| rw[0]))),
                ("pooled ReadOnly", catch_unwind(AssertUnwindSafe(|| pooled[0]))),
            ] {
                assert!(deref.is_err(), "{backend:?}: a {what} handle served the secret");
            }
            assert!(catch_unwind(AssertUnwindSafe(|| rw[0] = 1)).is_err(), "DerefMut");
            // Wiped at the first sound moment: when the access closes — read
            // while the handle (sealed, or handed back) still maps the region.
            let at = open.info().secret;
            let sealed = open.seal();
            assert!(sealed
                .as_ref()
                .map_or_else(|e| matches!(e.error(), Error::Poisoned), |_| true));
            let bytes = read_own_memory(at.start, 32).unwrap();
            assert_eq!(bytes, [0; 32], "{backend:?}: not wiped when the access closed");
            drop(sealed);
            drop(rw);
            drop(pooled);
        }
    });
}

/// The page a test handler makes accessible when it recovers.
#[cfg(unix)]
static RECOVER_PAGE: AtomicUsize = AtomicUsize::new(0);

/// A runtime's own handler: it recovers from faults on its page by making the
/// page accessible, and returns.
#[cfg(unix)]
extern "C" fn recovering_handler(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let page = RECOVER_PAGE.load(Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo for SIGSEGV.
    let info = unsafe { &*info };
    // SAFETY: for SIGSEGV `si_addr` is the member the kernel filled.
    let addr = unsafe { info.si_addr() }.addr();
    if addr >= page && addr < page + 4096 {
        // SAFETY: the page is the test's own mapping.
        unsafe {
            libc::mprotect(
                core::ptr::with_exposed_provenance_mut(page),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
    } else {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(99) };
    }
}

/// Makes a page of its own that faults, as a runtime's guard region would.
#[cfg(unix)]
fn runtime_page() -> usize {
    // SAFETY: a fresh anonymous mapping replaces nothing.
    let page = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    page.addr()
}

#[cfg(unix)]
fn recovered_fault(order: Order, backend: Backend) -> Result<[u8; 32], Error> {
    let page = runtime_page();
    RECOVER_PAGE.store(page, Ordering::SeqCst);
    support::install_sigsegv_handler(recovering_handler);
    siegel::crash::wipe_on_fatal_signal(order).unwrap();
    let secret = Protected::init_with_in(opts(backend), |s: &mut [u8; 32]| s.fill(0x5A)).unwrap();
    // SAFETY: faults once; the runtime's handler recovers.
    unsafe { core::ptr::with_exposed_provenance_mut::<u8>(page).write_volatile(1) };
    secret.read().map(|s| *s)
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
// A runtime's SIGSEGV handler. On Windows a recovered exception never reaches
// siegel's unhandled-exception filter, so the crash wipe does not run at all
// (siegel/src/sys/windows/signal.rs).
#[cfg(unix)]
#[test]
fn wipe_first_leaves_poisoned_secrets_never_silent_zeros_after_a_recovered_fault() {
    let test = "wipe_first_leaves_poisoned_secrets_never_silent_zeros_after_a_recovered_fault";
    for backend in backends(test) {
        let variant = format!("{backend:?}");
        if is_child(test) {
            if std::env::var("VARIANT").as_deref() == Ok(variant.as_str()) {
                let read = recovered_fault(Order::WipeFirst, backend);
                assert!(matches!(read, Err(Error::Poisoned)), "{read:?}");
                std::process::exit(0);
            }
            continue;
        }
        let out = run_child(test, &[("VARIANT", &variant)]);
        assert!(out.status.success(), "{variant}: {out:?}");
    }
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
// A runtime's SIGSEGV handler. On Windows a recovered exception never reaches
// siegel's unhandled-exception filter, so the crash wipe does not run at all
// (siegel/src/sys/windows/signal.rs).
#[cfg(unix)]
#[test]
fn previous_first_lets_a_runtime_recover_without_costing_the_secrets() {
    let test = "previous_first_lets_a_runtime_recover_without_costing_the_secrets";
    for backend in backends(test) {
        let variant = format!("{backend:?}");
        if is_child(test) {
            if std::env::var("VARIANT").as_deref() == Ok(variant.as_str()) {
                let read = recovered_fault(Order::PreviousFirst, backend);
                assert_eq!(read.unwrap(), [0x5A; 32]);
                std::process::exit(0);
            }
            continue;
        }
        let out = run_child(test, &[("VARIANT", &variant)]);
        assert!(out.status.success(), "{variant}: {out:?}");
    }
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn previous_first_still_wipes_when_the_fault_is_fatal() {
    let test = "previous_first_still_wipes_when_the_fault_is_fatal";
    if is_child(test) {
        support::no_core_dumps();
        // The previous handler is Rust's own (stack overflow detection): it gives
        // up its disposition and lets the fault recur. (On Windows: the
        // unhandled-exception filter installed before siegel's, if any.)
        siegel::crash::wipe_on_fatal_signal(Order::PreviousFirst).unwrap();
        siegel::crash::notify_fd(Some(1));
        let secret =
            Protected::<[u8; 32]>::zeroed_in(Options::new().backend(Backend::Mprotect)).unwrap();
        println!("armed");
        let guard_page = secret.info().mapping.start;
        // SAFETY: deliberately faults on the leading guard page.
        unsafe { core::ptr::with_exposed_provenance_mut::<u8>(guard_page).write_volatile(1) };
        std::process::exit(0);
    }
    let out = run_child(test, &[]);
    assert!(support::died_of_access_violation(out.status), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("armed\nW"), "wiped before dying: {stdout:?}");
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn a_rotation_racing_lockdown_leaves_no_unpoisoned_copy() {
    in_child("a_rotation_racing_lockdown_leaves_no_unpoisoned_copy", &[], || {
        for round in 0..200 {
            let secret = Protected::<[u8; 32]>::init_with_in(Dedicated, |s| s.fill(3)).unwrap();
            let rotated = std::thread::scope(|s| {
                let rotation = s.spawn(move || secret.rotate());
                if round % 2 == 0 {
                    std::thread::yield_now();
                }
                let _ = siegel::lockdown();
                rotation.join().unwrap()
            });
            // Whichever happened first, the secret the caller holds is poisoned:
            // lockdown began before `rotate` returned.
            match rotated {
                Ok(new) => assert!(matches!(new.read(), Err(Error::Poisoned)), "round {round}"),
                Err(err) => assert!(err.into_handle().info().poisoned, "round {round}"),
            }
        }
    });
}

mod frozen {
    #[siegel::protected]
    pub(super) struct Tagged {
        #[protected(frozen)]
        tag: u64,
        pub(super) value: [u8; 8],
    }

    impl Tagged {
        pub(super) fn with_tag(tag: u64) -> siegel::Protected<Self> {
            Self::protect_with(|t| t.tag = tag).unwrap()
        }
    }
}

#[test]
fn swapping_two_write_guards_exchanges_frozen_fields_whole() {
    // The documented limit of `frozen`: no accessor writes the field, but a
    // whole-value swap of two secrets of the same type moves it along.
    let mut a = frozen::Tagged::with_tag(1);
    let mut b = frozen::Tagged::with_tag(2);
    {
        let (mut ga, mut gb) = (a.write().unwrap(), b.write().unwrap());
        ga.value = [7; 8];
        core::mem::swap(&mut *ga, &mut *gb);
    }
    assert_eq!((*a.read().unwrap().tag(), *b.read().unwrap().tag()), (2, 1));
    assert_eq!(b.read().unwrap().value, [7; 8]);
}
