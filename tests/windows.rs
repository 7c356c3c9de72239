//! Windows only (issue #29, part 3): run under Wine in CI (`.ci/windows`).
//! What the POSIX fault tests check in a forked or re-run child, checked here
//! in a re-run child that dies of `STATUS_ACCESS_VIOLATION`: the guard pages on
//! both sides, a sealed region, a read-only scope; the crash wipe's
//! unhandled-exception filter, and its hand-on to the filter installed before
//! it; and locking past the minimum working set. On other systems this file is
//! empty.
#![cfg(windows)]
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "deliberate faults, the working-set size")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use siegel::{crash, Dedicated, Protected};
use support::{expect_sigsegv, in_child_within, is_child, run_child, ACCESS_VIOLATION};
use windows_sys::Win32::System::{
    Diagnostics::Debug::{SetUnhandledExceptionFilter, EXCEPTION_POINTERS},
    Threading::ExitProcess,
};

/// # Safety
///
/// Deliberately invalid: faults.
unsafe fn poke(addr: usize) {
    // SAFETY:
    // - deliberately invalid: the store faults and kills the child.
    unsafe { core::ptr::with_exposed_provenance_mut::<u8>(addr).write_volatile(0x41) };
}

/// # Safety
///
/// Deliberately invalid: faults.
unsafe fn peek(addr: usize) -> u8 {
    // SAFETY:
    // - deliberately invalid, as for `poke`.
    unsafe { core::ptr::with_exposed_provenance::<u8>(addr).read_volatile() }
}

#[test]
fn the_platform_says_what_holds_on_windows() {
    let here = siegel::platform();
    assert_eq!(here.os, "windows");
    assert!(!here.protection_keys);
    assert!(!here.secret_memory);
    assert!(!here.core_dump_exclusion);
    assert!(here.fork_exclusion, "no fork on Windows");
    assert!(!here.write_behind_seal);
}

#[test]
fn overflow_by_one_byte_hits_the_guard_page() {
    expect_sigsegv("overflow_by_one_byte_hits_the_guard_page", || {
        let mut secret = Protected::<[u8; 32]>::zeroed_in(Dedicated).unwrap();
        let end = secret.info().secret.end;
        let _open = secret.write().unwrap();
        // SAFETY: deliberately faults (trailing guard page).
        unsafe { poke(end) };
    });
}

#[test]
fn underflow_past_the_data_pages_hits_the_guard_page() {
    expect_sigsegv("underflow_past_the_data_pages_hits_the_guard_page", || {
        let mut secret = Protected::<[u8; 32]>::zeroed_in(Dedicated).unwrap();
        let below = secret.info().data_pages.start - 1;
        let _open = secret.write().unwrap();
        // SAFETY: deliberately faults (leading guard page).
        unsafe { poke(below) };
    });
}

#[test]
fn reading_a_sealed_region_faults() {
    expect_sigsegv("reading_a_sealed_region_faults", || {
        let secret = Protected::init_with_in(Dedicated, |s: &mut [u8; 32]| s.fill(7)).unwrap();
        let start = secret.info().secret.start;
        // SAFETY: deliberately faults (sealed region).
        let byte = unsafe { peek(start) };
        println!("read {byte} from a sealed region");
    });
}

#[test]
fn writing_under_a_read_scope_faults() {
    expect_sigsegv("writing_under_a_read_scope_faults", || {
        let secret = Protected::<[u8; 32]>::zeroed_in(Dedicated).unwrap();
        let guard = secret.read().unwrap();
        let start = guard.as_ptr().addr();
        // SAFETY: deliberately faults (read-only scope).
        unsafe { poke(start) };
        drop(guard);
    });
}

#[test]
fn a_scope_reads_and_writes_and_a_pool_works() {
    let mut secret = Protected::init_with_in(Dedicated, |s: &mut [u8; 32]| s.fill(3)).unwrap();
    assert_eq!(secret.read().unwrap()[31], 3);
    secret.write().unwrap()[0] = 9;
    assert_eq!(secret.read().unwrap()[0], 9);
    let pool = siegel::Pool::new();
    let many: Vec<_> =
        (0u8..100).map(|i| Protected::init_with_in(&pool, |s: &mut [u8; 16]| s.fill(i))).collect();
    for (i, s) in many.iter().enumerate() {
        assert_eq!(usize::from(s.as_ref().unwrap().read().unwrap()[15]), i);
    }
}

#[test]
fn the_crash_wipe_runs_before_an_access_violation_kills_the_process() {
    let test = "the_crash_wipe_runs_before_an_access_violation_kills_the_process";
    if is_child(test) {
        let path = std::path::PathBuf::from(std::env::var("SIEGEL_WINDOWS_NOTIFY").unwrap());
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path; `_open` touches no other memory.
        let fd = unsafe {
            libc::open(c_path.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_BINARY, 0o600)
        };
        assert!(fd >= 0, "open {}", path.display());
        crash::wipe_on_fatal_signal(crash::Order::WipeFirst).unwrap();
        crash::notify_fd(Some(fd));
        let secret = Protected::init_with_in(Dedicated, |s: &mut [u8; 32]| s.fill(7)).unwrap();
        let start = secret.info().secret.start;
        // SAFETY: deliberately faults (sealed region): the filter wipes, then
        // the process dies.
        let byte = unsafe { peek(start) };
        println!("read {byte} from a sealed region");
        std::process::exit(0);
    }
    let path = std::env::temp_dir().join(format!("siegel-crash-{}", std::process::id()));
    let out = run_child(test, &[("SIEGEL_WINDOWS_NOTIFY", path.to_str().unwrap())]);
    let notified = std::fs::read(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(ACCESS_VIOLATION), "{out:?}");
    assert_eq!(notified, b"W", "the crash wipe notified");
}

/// Address of the secret the earlier filter inspects.
static INSPECT: AtomicUsize = AtomicUsize::new(0);
const WIPED: u32 = 50;
const INTACT: u32 = 51;

/// An unhandled-exception filter installed *before* siegel's: siegel's filter
/// wipes, then hands the exception on to it, and it exits with whether the
/// secret's bytes are all zero.
unsafe extern "system" fn inspect_after_wipe(_: *const EXCEPTION_POINTERS) -> i32 {
    let addr = INSPECT.load(Ordering::SeqCst);
    let mut zero = true;
    for i in 0..32 {
        // SAFETY: siegel's filter left the wiped pages accessible before
        // handing the exception on (else this faults and the child dies of an
        // access violation, which fails the test).
        zero &= unsafe { peek(addr + i) } == 0;
    }
    // SAFETY: ends the process at once with the verdict as its exit code.
    unsafe { ExitProcess(if zero { WIPED } else { INTACT }) }
}

#[test]
fn an_access_violation_wipes_then_hands_on_to_the_previous_filter() {
    let test = "an_access_violation_wipes_then_hands_on_to_the_previous_filter";
    if is_child(test) {
        // SAFETY: installs a filter that only reads the secret and exits.
        unsafe { SetUnhandledExceptionFilter(Some(inspect_after_wipe)) };
        crash::wipe_on_fatal_signal(crash::Order::WipeFirst).unwrap();
        let secret = Protected::init_with_in(Dedicated, |s: &mut [u8; 32]| s.fill(0xC3)).unwrap();
        INSPECT.store(secret.info().secret.start, Ordering::SeqCst);
        // SAFETY: deliberately faults on the leading guard page.
        unsafe { poke(secret.info().mapping.start) };
        std::process::exit(0);
    }
    let out = run_child(test, &[]);
    assert_eq!(out.status.code(), Some(WIPED.cast_signed()), "{out:?}");
}

/// `GetProcessWorkingSetSize(GetCurrentProcess())`: the minimum and maximum
/// working-set size in bytes.
fn working_set_size() -> (usize, usize) {
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetProcessWorkingSetSize};
    // SAFETY:
    // - GetCurrentProcess has no preconditions and cannot fail.
    let process = unsafe { GetCurrentProcess() };
    let (mut min, mut max) = (0, 0);
    // SAFETY:
    // - this process's pseudo handle (full access) and two writable sizes [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-getprocessworkingsetsize
    let ok = unsafe { GetProcessWorkingSetSize(process, &raw mut min, &raw mut max) };
    assert_ne!(ok, 0, "GetProcessWorkingSetSize: {}", std::io::Error::last_os_error());
    (min, max)
}

/// Locks a quarter and a MiB more than the minimum working set: Windows lets a
/// process lock about its minimum working set (50 pages, ~200 KiB, by
/// default) and fails `VirtualLock` with `ERROR_WORKING_SET_QUOTA` beyond it;
/// siegel then grows the minimum and the maximum
/// (`SetProcessWorkingSetSize`) and locks again. Every secret must be created
/// and locked, and where the working set grew, its minimum must cover every
/// locked page.
///
/// Wine 8 does not enforce the quota: it reports a fixed minimum and maximum
/// of 32 MiB, its `SetProcessWorkingSetSize` changes neither, and its
/// `VirtualLock` is `mlock(2)` — bounded by `RLIMIT_MEMLOCK`, failing with
/// `ERROR_ACCESS_DENIED`, never `ERROR_WORKING_SET_QUOTA`. Under Wine the
/// growth path does not run: the test locks past the reported minimum, checks
/// every secret is locked and usable and that the working set did not shrink,
/// and says the quota was not enforced (as `mlock`s, its ~45 MiB of locks need
/// root or a large `RLIMIT_MEMLOCK`: `.ci/windows` runs as root). The growth
/// arithmetic itself is unit-tested in `siegel/src/sys/windows/mem.rs`.
#[test]
fn locking_past_the_minimum_working_set_grows_it() {
    const SECRET: usize = 64 << 10;
    let test = "locking_past_the_minimum_working_set_grows_it";
    // In a child: a grown working set is process-wide.
    in_child_within(test, &[], std::time::Duration::from_mins(5), || {
        let (min, max) = working_set_size();
        let n = (min + min / 4 + (1 << 20)).div_ceil(SECRET);
        let mut secrets: Vec<Protected<[u8]>> = Vec::with_capacity(n);
        for i in 0..n {
            let secret = Protected::<[u8]>::zeroed_slice_in(Dedicated, SECRET)
                .unwrap_or_else(|e| panic!("secret {i} of {n} (minimum {min} B): {e}"));
            assert!(secret.info().locked, "secret {i} of {n} is not locked");
            secrets.push(secret);
        }
        let locked: usize = secrets.iter().map(|s| s.info().data_pages.len()).sum();
        assert!(locked > min, "locked {locked} B, not past the minimum {min} B");
        for (i, secret) in secrets.iter_mut().enumerate() {
            secret.write().unwrap()[SECRET - 1] = u8::try_from(i % 251).unwrap();
        }
        for (i, secret) in secrets.iter().enumerate() {
            assert_eq!(usize::from(secret.read().unwrap()[SECRET - 1]), i % 251);
        }
        let (min_after, max_after) = working_set_size();
        assert!(min_after >= min && max_after >= max, "the working set shrank");
        if (min_after, max_after) == (min, max) {
            eprintln!(
                "{test}: the quota is not enforced here: {n} secrets, {} KiB locked past a \
                 minimum working set of {} KiB that did not grow",
                locked >> 10,
                min >> 10
            );
        } else {
            assert!(min_after >= locked, "minimum {min_after} B < {locked} B locked");
            eprintln!(
                "{test}: the working set grew from {} to {} KiB for {} KiB locked",
                min >> 10,
                min_after >> 10,
                locked >> 10
            );
        }
    });
}
