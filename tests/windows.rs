//! Windows only (issue #29, part 3): run under Wine in CI (`.ci/windows`).
//! What the POSIX fault tests check in a forked or re-run child, checked here
//! in a re-run child that dies of `STATUS_ACCESS_VIOLATION`: the guard pages on
//! both sides, a sealed region, a read-only scope; and the crash wipe's
//! unhandled-exception filter. On other systems this file is empty.
#![cfg(windows)]
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "deliberate faults")]

use std::process::Command;

use siegel::{crash, Dedicated, Protected};

/// `STATUS_ACCESS_VIOLATION`, as the exit code of a process killed by one.
const ACCESS_VIOLATION: i32 = 0xC000_0005_u32.cast_signed();

/// Runs `body` in a child (this test binary re-run on test `name` alone) and
/// returns its exit code; in the child, runs `body` and exits 0 if it returns.
fn in_child(name: &str, body: impl FnOnce()) -> Option<i32> {
    if std::env::var_os("SIEGEL_WINDOWS_CHILD").is_some() {
        body();
        std::process::exit(0);
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("SIEGEL_WINDOWS_CHILD", "1")
        .output()
        .unwrap();
    out.status.code()
}

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
    let code = in_child("overflow_by_one_byte_hits_the_guard_page", || {
        let mut secret = Protected::<[u8; 32]>::zeroed_in(Dedicated).unwrap();
        let end = secret.info().secret.end;
        let _open = secret.write().unwrap();
        // SAFETY: deliberately faults (trailing guard page).
        unsafe { poke(end) };
    });
    assert_eq!(code, Some(ACCESS_VIOLATION));
}

#[test]
fn underflow_past_the_data_pages_hits_the_guard_page() {
    let code = in_child("underflow_past_the_data_pages_hits_the_guard_page", || {
        let mut secret = Protected::<[u8; 32]>::zeroed_in(Dedicated).unwrap();
        let below = secret.info().data_pages.start - 1;
        let _open = secret.write().unwrap();
        // SAFETY: deliberately faults (leading guard page).
        unsafe { poke(below) };
    });
    assert_eq!(code, Some(ACCESS_VIOLATION));
}

#[test]
fn reading_a_sealed_region_faults() {
    let code = in_child("reading_a_sealed_region_faults", || {
        let secret = Protected::init_with_in(Dedicated, |s: &mut [u8; 32]| s.fill(7)).unwrap();
        let start = secret.info().secret.start;
        // SAFETY: deliberately faults (sealed region).
        let byte = unsafe { peek(start) };
        println!("read {byte} from a sealed region");
    });
    assert_eq!(code, Some(ACCESS_VIOLATION));
}

#[test]
fn writing_under_a_read_scope_faults() {
    let code = in_child("writing_under_a_read_scope_faults", || {
        let secret = Protected::<[u8; 32]>::zeroed_in(Dedicated).unwrap();
        let guard = secret.read().unwrap();
        let start = guard.as_ptr().addr();
        // SAFETY: deliberately faults (read-only scope).
        unsafe { poke(start) };
        drop(guard);
    });
    assert_eq!(code, Some(ACCESS_VIOLATION));
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
    let path = std::env::temp_dir().join(format!("siegel-crash-{}", std::process::id()));
    let child_path = std::env::var("SIEGEL_WINDOWS_NOTIFY").map(std::path::PathBuf::from);
    if std::env::var_os("SIEGEL_WINDOWS_CHILD").is_some() {
        let path = child_path.unwrap();
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
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_crash_wipe_runs_before_an_access_violation_kills_the_process",
            "--nocapture",
        ])
        .env("SIEGEL_WINDOWS_CHILD", "1")
        .env("SIEGEL_WINDOWS_NOTIFY", &path)
        .output()
        .unwrap();
    let notified = std::fs::read(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(ACCESS_VIOLATION), "{out:?}");
    assert_eq!(notified, b"W", "the crash wipe notified");
}
