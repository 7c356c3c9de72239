//! Protection-key behaviour — what region 16 gets, per-thread isolation, signal
//! handlers, inherited rights, core dumps — and, where the backends differ, the
//! mprotect behaviour the docs promise. PKU tests print "skipped: no PKU" without
//! PKU, and fail then if `SIEGEL_REQUIRE_PKU=1`.
//!
//! On Windows (no protection keys: the PKU tests skip) the signal-handler,
//! `si_pkey` and core-dump cases are left out: they are Linux's.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

use std::{collections::HashSet, sync::mpsc, thread};
#[cfg(target_os = "linux")]
use std::{
    io::Write as _,
    os::unix::process::ExitStatusExt,
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

#[cfg(target_os = "linux")]
use siegel::Dedicated;
use siegel::{Backend, Error, KeyExhaustion, Mechanism, Protected};
use support::{expect_sigsegv, in_child, opts, pku_available};
#[cfg(target_os = "linux")]
use support::{is_child, report_segv, run_child, SEGV_REPORTED};

fn keyed(regions: &[Protected<[u8; 32]>]) -> Vec<u32> {
    regions
        .iter()
        .filter_map(|r| match r.info().mechanism {
            Mechanism::ProtectionKey { key } => Some(key),
            Mechanism::PageProtection => None,
        })
        .collect()
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn with_the_fallback_policy_region_16_gets_page_protection() {
    let test = "with_the_fallback_policy_region_16_gets_page_protection";
    if !pku_available(test) {
        return;
    }
    // In a child: the other tests of this binary must not hold keys meanwhile.
    in_child(test, &[], || {
        let fallback = opts(Backend::Pku).on_keys_exhausted(KeyExhaustion::Fallback);
        let mut regions: Vec<Protected<[u8; 32]>> = (0..20u8)
            .map(|i| Protected::init_with_in(fallback, |s: &mut [u8; 32]| s.fill(i)).unwrap())
            .collect();
        let keys = keyed(&regions);
        // x86-64 has 16 keys; key 0 is the default: 15 regions get their own key.
        assert_eq!(keys.len(), 15, "{keys:?}");
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 15, "distinct keys");
        assert!(regions[..15]
            .iter()
            .all(|r| matches!(r.info().mechanism, Mechanism::ProtectionKey { .. })));
        assert!(regions[15..].iter().all(|r| r.info().mechanism == Mechanism::PageProtection));
        // Every region works, whatever protects it, and fallback is for good.
        for (i, region) in (0u8..).zip(regions.iter_mut()) {
            assert_eq!(region.read().unwrap()[31], i);
            region.write().unwrap()[0] = i + 100;
            assert_eq!(region.read().unwrap()[0], i + 100);
        }
        assert_eq!(keyed(&regions), keys);
        // The opt-in policy turns exhaustion into an error.
        let strict = opts(Backend::Pku).on_keys_exhausted(KeyExhaustion::Error);
        assert!(matches!(Protected::<u64>::zeroed_in(strict), Err(Error::KeysExhausted)));
        // Freeing a region returns its key.
        drop(regions.remove(0));
        let again = Protected::<u64>::zeroed_in(strict).unwrap();
        assert_eq!(again.info().mechanism, Mechanism::ProtectionKey { key: keys[0] });
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn virtualised_keys_serve_a_hundred_regions_on_several_threads() {
    let test = "virtualised_keys_serve_a_hundred_regions_on_several_threads";
    if !pku_available(test) {
        return;
    }
    in_child(test, &[], || {
        const REGIONS: u8 = 120;
        let regions: Vec<Protected<[u8; 32]>> = (0..REGIONS)
            .map(|i| {
                Protected::init_with_in(opts(Backend::Pku), |s: &mut [u8; 32]| s.fill(i)).unwrap()
            })
            .collect();
        let keys = keyed(&regions);
        assert_eq!(keys.len(), 15, "every key in use: {keys:?}");
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 15, "no key shared");
        // The first region lost its key long ago; opening it takes one back.
        assert_eq!(regions[0].info().mechanism, Mechanism::PageProtection);
        assert_eq!(regions[0].read().unwrap()[0], 0);
        assert!(matches!(regions[0].info().mechanism, Mechanism::ProtectionKey { .. }));
        // Four threads open overlapping scopes on regions in different orders.
        thread::scope(|scope| {
            for t in 0..4usize {
                let regions = &regions;
                scope.spawn(move || {
                    for round in 0..support::rounds(600) {
                        let i = (round * 7 + t * 31) % regions.len();
                        let j = (round * 13 + t * 5 + 1) % regions.len();
                        let a = regions[i].read().unwrap();
                        let b = regions[j].read().unwrap();
                        assert_eq!(usize::from(a[0]), i);
                        assert_eq!(usize::from(b[31]), j);
                    }
                });
            }
        });
        let keys = keyed(&regions);
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len(), "no key shared");
        assert!(keys.len() <= 15);
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_region_that_lost_its_key_stays_sealed() {
    let test = "a_region_that_lost_its_key_stays_sealed";
    if !pku_available(test) {
        return;
    }
    expect_sigsegv(test, || {
        let regions: Vec<Protected<[u8; 32]>> = (0..40u8)
            .map(|i| {
                Protected::init_with_in(opts(Backend::Pku), |s: &mut [u8; 32]| s.fill(i)).unwrap()
            })
            .collect();
        let evicted =
            regions.iter().find(|r| r.info().mechanism == Mechanism::PageProtection).unwrap();
        let addr = evicted.info().secret.start;
        #[allow(unsafe_code, reason = "simulates a stray read")]
        // SAFETY: deliberately faults: the evicted region is sealed by page protection.
        let byte = unsafe { core::ptr::with_exposed_provenance::<u8>(addr).read_volatile() };
        println!("read {byte} from an evicted region");
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn another_thread_cannot_read_while_this_thread_holds_a_scope() {
    let test = "another_thread_cannot_read_while_this_thread_holds_a_scope";
    if !pku_available(test) {
        return;
    }
    expect_sigsegv(test, || {
        let secret =
            Protected::init_with_in(opts(Backend::Pku), |s: &mut [u8; 32]| s.fill(0x5E)).unwrap();
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

/// `SEGV_PKUERR` from `<asm-generic/siginfo.h>`.
#[cfg(target_os = "linux")]
const SEGV_PKUERR: i32 = 4;

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
#[cfg(target_os = "linux")] // report_segv: si_pkey
fn an_illegal_access_faults_with_segv_pkuerr_and_the_region_key() {
    let test = "an_illegal_access_faults_with_segv_pkuerr_and_the_region_key";
    if !pku_available(test) {
        return;
    }
    if is_child(test) {
        let secret = Protected::<[u8; 32]>::zeroed_in(opts(Backend::Pku)).unwrap();
        let Mechanism::ProtectionKey { key } = secret.info().mechanism else { panic!("no key") };
        println!("key={key}");
        report_segv();
        let addr = secret.info().secret.start;
        #[allow(unsafe_code, reason = "simulates a stray read")]
        // SAFETY: deliberately faults: the region is sealed.
        let byte = unsafe { core::ptr::with_exposed_provenance::<u8>(addr).read_volatile() };
        println!("read {byte} from a sealed region");
        std::process::exit(0);
    }
    let out = run_child(test, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(SEGV_REPORTED), "{stdout}");
    let key: u32 = stdout
        .lines()
        // The harness prints "test NAME ... " before the child's first line.
        .find_map(|l| l.split_once("key=").map(|(_, key)| key))
        .and_then(|k| k.parse().ok())
        .expect("child printed its key");
    let expected = format!("segv code={SEGV_PKUERR} pkey={key}");
    assert!(stdout.lines().any(|l| l.ends_with(&expected)), "want {expected:?} in:\n{stdout}");
}

#[cfg_attr(
    miri,
    ignore = "forges a pointer from a RegionInfo address (exposed provenance, refused by -Zmiri-strict-provenance)"
)]
#[test]
fn under_mprotect_another_thread_can_read_during_a_scope() {
    // The documented difference: page protection is process-wide.
    let secret =
        Protected::init_with_in(opts(Backend::Mprotect), |s: &mut [u8; 32]| s.fill(0x5E)).unwrap();
    let addr = secret.info().secret.start;
    let (go, wait) = mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        wait.recv().unwrap();
        #[allow(unsafe_code, reason = "a stray read from another thread")]
        // SAFETY: the pages are readable process-wide while the scope below is
        // open, and the scope outlives this read (we join before dropping it).
        unsafe {
            core::ptr::with_exposed_provenance::<u8>(addr).read_volatile()
        }
    });
    let guard = secret.read().unwrap();
    go.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), 0x5E);
    drop(guard);
}

/// The address a signal handler in these tests reads.
#[cfg(target_os = "linux")]
static HANDLER_ADDR: AtomicUsize = AtomicUsize::new(0);
/// What the handler read (`0x100` + byte), or 0.
#[cfg(target_os = "linux")]
static HANDLER_READ: AtomicUsize = AtomicUsize::new(0);

#[cfg(target_os = "linux")]
extern "C" fn read_in_handler(_sig: libc::c_int) {
    let addr = HANDLER_ADDR.load(Ordering::SeqCst);
    #[allow(unsafe_code, reason = "a signal handler probing the region")]
    // SAFETY: faults under PKU (the handler runs with the default PKRU); under
    // mprotect the interrupted thread's scope keeps the pages readable.
    let byte = unsafe { core::ptr::with_exposed_provenance::<u8>(addr).read_volatile() };
    HANDLER_READ.store(0x100 + usize::from(byte), Ordering::SeqCst);
}

#[allow(clippy::as_conversions, reason = "sighandler_t is an address: no From exists")]
#[cfg(target_os = "linux")]
fn handler_address() -> libc::sighandler_t {
    read_in_handler as *const () as libc::sighandler_t
}

#[cfg(target_os = "linux")]
fn raise_with_handler(secret: &Protected<[u8; 32]>) {
    HANDLER_ADDR.store(secret.info().secret.start, Ordering::SeqCst);
    let guard = secret.read().unwrap();
    #[allow(unsafe_code, reason = "installs a test signal handler")]
    // SAFETY: `read_in_handler` only touches atomics and does a volatile read.
    let old = unsafe { libc::signal(libc::SIGUSR1, handler_address()) };
    assert_ne!(old, libc::SIG_ERR);
    #[allow(unsafe_code, reason = "delivers the signal synchronously")]
    // SAFETY: raise has no preconditions; the handler is installed.
    unsafe {
        libc::raise(libc::SIGUSR1)
    };
    assert_eq!(guard[0], 0x77, "the interrupted scope still reads");
    drop(guard);
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
#[cfg(target_os = "linux")] // signals
fn a_signal_handler_cannot_read_a_region_the_interrupted_thread_has_open() {
    let test = "a_signal_handler_cannot_read_a_region_the_interrupted_thread_has_open";
    if !pku_available(test) {
        return;
    }
    expect_sigsegv(test, || {
        let secret =
            Protected::init_with_in(opts(Backend::Pku), |s: &mut [u8; 32]| s.fill(0x77)).unwrap();
        raise_with_handler(&secret);
        println!("the handler read {:#x}", HANDLER_READ.load(Ordering::SeqCst));
    });
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
#[cfg(target_os = "linux")] // signals
fn under_mprotect_a_signal_handler_can_read_an_open_region() {
    in_child("under_mprotect_a_signal_handler_can_read_an_open_region", &[], || {
        let secret =
            Protected::init_with_in(opts(Backend::Mprotect), |s: &mut [u8; 32]| s.fill(0x77))
                .unwrap();
        raise_with_handler(&secret);
        assert_eq!(HANDLER_READ.load(Ordering::SeqCst), 0x177);
    });
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_thread_spawned_by_std_during_a_scope_inherits_access() {
    // The hole, demonstrated: std::thread::spawn copies PKRU, open key included,
    // and the copy outlives the creator's scope.
    let test = "a_thread_spawned_by_std_during_a_scope_inherits_access";
    if !pku_available(test) {
        return;
    }
    let secret =
        Protected::init_with_in(opts(Backend::Pku), |s: &mut [u8; 32]| s.fill(0x33)).unwrap();
    let addr = secret.info().secret.start;
    let (closed, wait) = mpsc::channel::<()>();
    let guard = secret.read().unwrap();
    let heir = thread::spawn(move || {
        wait.recv().unwrap();
        #[allow(unsafe_code, reason = "demonstrates the inherited access")]
        // SAFETY: the inherited PKRU leaves the key open in this thread; the
        // region outlives the join below.
        let byte = unsafe { core::ptr::with_exposed_provenance::<u8>(addr).read_volatile() };
        // Sealing the thread closes what it inherited.
        assert_eq!(siegel::thread::seal_thread(), 1);
        byte
    });
    drop(guard);
    closed.send(()).unwrap();
    assert_eq!(heir.join().unwrap(), 0x33, "read after the creator's scope closed");
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
fn a_thread_spawned_by_siegel_during_a_scope_cannot_read() {
    let test = "a_thread_spawned_by_siegel_during_a_scope_cannot_read";
    if !pku_available(test) {
        return;
    }
    expect_sigsegv(test, || {
        let secret =
            Protected::init_with_in(opts(Backend::Pku), |s: &mut [u8; 32]| s.fill(0x33)).unwrap();
        let addr = secret.info().secret.start;
        let guard = secret.read().unwrap();
        let thief = siegel::thread::spawn(move || {
            #[allow(unsafe_code, reason = "a stray read from a fresh thread")]
            // SAFETY: deliberately faults: siegel::thread::spawn sealed the key.
            unsafe {
                core::ptr::with_exposed_provenance::<u8>(addr).read_volatile()
            }
        });
        let byte = thief.join();
        println!("the new thread read {byte:?}");
        drop(guard);
    });
}

/// 64 bytes from xorshift64 seeded with `seed`: a pattern that does not occur by
/// chance, computed the same way in parent and child.
#[cfg(target_os = "linux")]
fn pattern(seed: u64) -> [u8; 64] {
    let mut state = seed;
    let mut out = [0u8; 64];
    for chunk in out.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    out
}

#[cfg(target_os = "linux")]
fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

#[cfg_attr(miri, ignore = "protection keys: Miri has none")]
#[test]
#[cfg(target_os = "linux")] // core dumps, RLIMIT_CORE
fn no_secret_in_a_core_dump() {
    const TEST: &str = "no_secret_in_a_core_dump";
    const SEALED: u64 = 0x5EA1_ED00_0000_0001;
    const OPEN: u64 = 0x0BE0_0000_0000_0002;
    const PLAIN: u64 = 0x9A1A_0000_0000_0003;
    if is_child(TEST) {
        let core = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
        #[allow(unsafe_code, reason = "enables core dumps for this child")]
        // SAFETY: `core` is a valid rlimit; raising to the hard limit is allowed.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &raw const core)
        };
        let sealed =
            Protected::<[u8; 64]>::init_with_in(Dedicated, |s| *s = pattern(SEALED)).unwrap();
        let open = Protected::<[u8; 64]>::init_with_in(Dedicated, |s| *s = pattern(OPEN)).unwrap();
        let plain = Box::new(pattern(PLAIN));
        let _scope = open.read().unwrap();
        println!("mechanisms: {} / {}", sealed.info().mechanism, open.info().mechanism);
        std::hint::black_box(&plain);
        std::process::abort();
    }
    let pattern_setting = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    if pattern_setting.starts_with('|') {
        let _ = writeln!(
            std::io::stderr(),
            "{TEST}: skipped: core_pattern pipes cores to {pattern_setting:?}"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("siegel-core-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env("SIEGEL_TEST_CHILD", TEST)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{out:?}");
    assert!(out.status.core_dumped(), "no core dumped (core_pattern {pattern_setting:?})");
    let core_path = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("core")))
        .unwrap_or_else(|| {
            panic!("no core file in {} (core_pattern {pattern_setting:?})", dir.display())
        });
    let core = std::fs::read(&core_path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(occurrences(&core, &pattern(PLAIN)) >= 1, "the search finds unprotected heap data");
    assert_eq!(occurrences(&core, &pattern(SEALED)), 0, "sealed secret in the core");
    assert_eq!(occurrences(&core, &pattern(OPEN)), 0, "open secret in the core");
    println!("core of {} bytes: plain data found, secrets absent", core.len());
}
