//! Hardening: wipe on a fatal signal, lockdown, rotation, `memfd_secret` memory,
//! constant-time comparison.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "these tests crash children and install signal handlers")]

mod support;

#[cfg(target_os = "linux")]
use std::io::{Read as _, Seek as _, SeekFrom};
#[cfg(unix)]
use std::sync::atomic::{AtomicUsize, Ordering};

use siegel::{Backend, CtEq, Dedicated, Error, Memory, MemoryPolicy, Options, Protected};
use support::{backends, in_child, is_child, opts, run_child};
#[cfg(target_os = "linux")]
use support::{drop_cap_ipc_lock, set_memlock_limit};

/// Address of the secret a chained test handler inspects.
#[cfg(unix)]
static INSPECT: AtomicUsize = AtomicUsize::new(0);
#[cfg(unix)]
const WIPED: i32 = 50;
#[cfg(unix)]
const INTACT: i32 = 51;

/// A SIGSEGV handler installed *before* siegel's: siegel chains to it after its
/// wipe, and it reports whether the secret's bytes are all zero.
#[cfg(unix)]
extern "C" fn inspect_after_wipe(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let addr = INSPECT.load(Ordering::SeqCst);
    let mut zero = true;
    for i in 0..32 {
        // SAFETY: siegel's handler left the wiped pages accessible to this thread
        // (pages writable; under PKU every key open) before chaining here.
        let byte = unsafe { core::ptr::with_exposed_provenance::<u8>(addr + i).read_volatile() };
        zero &= byte == 0;
    }
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(if zero { WIPED } else { INTACT }) };
}

fn crash_with_secret(backend: Backend, scope_open: bool) {
    let secret = Protected::init_with_in(opts(backend), |s: &mut [u8; 32]| s.fill(0xC3)).unwrap();
    #[cfg(unix)]
    INSPECT.store(secret.info().secret.start, Ordering::SeqCst);
    let guard_page = secret.info().mapping.start;
    let scope = scope_open.then(|| secret.read().unwrap());
    // SAFETY: deliberately faults on the leading guard page.
    unsafe { core::ptr::with_exposed_provenance_mut::<u8>(guard_page).write_volatile(1) };
    drop(scope);
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
// A SIGSEGV handler installed before siegel's. Windows' counterpart, an
// earlier unhandled-exception filter, is tests/windows.rs's.
#[cfg(unix)]
#[test]
fn a_fatal_signal_wipes_every_region_then_chains_to_the_previous_handler() {
    let test = "a_fatal_signal_wipes_every_region_then_chains_to_the_previous_handler";
    for backend in backends(test) {
        for scope_open in [false, true] {
            let variant = format!("{backend:?}/{scope_open}");
            if is_child(test) {
                if std::env::var("VARIANT").as_deref() == Ok(variant.as_str()) {
                    support::install_sigsegv_handler(inspect_after_wipe);
                    siegel::crash::wipe_on_fatal_signal(siegel::crash::Order::WipeFirst).unwrap();
                    crash_with_secret(backend, scope_open);
                    std::process::exit(0);
                }
                continue;
            }
            let out = run_child(test, &[("VARIANT", &variant)]);
            assert_eq!(out.status.code(), Some(WIPED), "{variant}: {out:?}");
        }
    }
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn without_a_previous_handler_the_crash_still_happens_and_notifies() {
    let test = "without_a_previous_handler_the_crash_still_happens_and_notifies";
    if is_child(test) {
        support::no_core_dumps();
        siegel::crash::wipe_on_fatal_signal(siegel::crash::Order::WipeFirst).unwrap();
        siegel::crash::notify_fd(Some(1));
        println!("armed");
        crash_with_secret(Backend::Mprotect, false);
        std::process::exit(0);
    }
    let out = run_child(test, &[]);
    assert!(support::died_of_access_violation(out.status), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("armed\nW"), "notification byte after the wipe: {stdout:?}");
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn lockdown_wipes_live_regions_and_poisons_their_handles() {
    in_child("lockdown_wipes_live_regions_and_poisons_their_handles", &[], || {
        let mut a = Protected::<[u8; 16]>::init_with_in(Dedicated, |s| s.fill(1)).unwrap();
        let b = Protected::init_with_in(
            Options::new().backend(Backend::Mprotect),
            |s: &mut [u8; 16]| s.fill(2),
        )
        .unwrap();
        let open = Protected::<[u8; 16]>::init_with_in(Dedicated, |s| s.fill(3)).unwrap();
        let scope = open.read().unwrap();
        let report = siegel::lockdown();
        assert_eq!((report.wiped, report.deferred), (2, 1), "{report:?}");
        assert!(a.info().poisoned && b.info().poisoned && open.info().poisoned);
        assert!(matches!(a.read(), Err(Error::Poisoned)));
        assert!(matches!(a.write(), Err(Error::Poisoned)));
        assert!(matches!(b.into_read_only().map_err(|e| e.into_parts().0), Err(Error::Poisoned)));
        // A scope already open hands out nothing more (its deref panics); the
        // region is wiped when it closes.
        let deref = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scope[0]));
        assert!(deref.is_err(), "a guard served the secret after lockdown");
        drop(scope);
        assert!(matches!(open.read(), Err(Error::Poisoned)));
        // New regions are unaffected.
        let fresh = Protected::<u8>::init_with_in(Dedicated, |v| *v = 9).unwrap();
        assert_eq!(*fresh.read().unwrap(), 9);
    });
}

/// Whether any mapping of this process contains `addr`.
#[cfg(target_os = "linux")]
fn mapped(addr: usize) -> bool {
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().any(|line| {
        let range = line.split_whitespace().next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let (start, end) =
            (usize::from_str_radix(start, 16).unwrap(), usize::from_str_radix(end, 16).unwrap());
        (start..end).contains(&addr)
    })
}

/// Whether `addr` is reserved or committed (not `MEM_FREE`).
#[cfg(windows)]
fn mapped(addr: usize) -> bool {
    support::virtual_query(addr).unwrap().State != windows_sys::Win32::System::Memory::MEM_FREE
}

// In a child: in the test process another test's new mapping may take the
// old one's address between the rotation and the look at /proc/self/maps
// (seen once in the arm64 VM).
#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn rotation_moves_the_secret_to_a_fresh_mapping() {
    in_child("rotation_moves_the_secret_to_a_fresh_mapping", &[], || {
        for backend in backends("rotation_moves_the_secret_to_a_fresh_mapping") {
            let secret =
                Protected::init_with_in(opts(backend), |s: &mut [u8; 40]| s.fill(0x42)).unwrap();
            let old = secret.info();
            let secret = secret.rotate().unwrap();
            let new = secret.info();
            assert_ne!(old.secret.start, new.secret.start);
            assert!(!mapped(old.secret.start), "old mapping unmapped");
            assert_eq!(*secret.read().unwrap(), [0x42; 40]);
            let slice =
                Protected::init_slice_with_in(opts(backend), 5, |s: &mut [u16]| s.fill(7)).unwrap();
            assert_eq!(*slice.rotate().unwrap().read().unwrap(), [7; 5]);
        }
    });
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[cfg(target_os = "linux")] // RLIMIT_MEMLOCK, capabilities
#[test]
fn failed_rotation_keeps_the_secret() {
    in_child("failed_rotation_keeps_the_secret", &[], || {
        let secret =
            Protected::init_with_in(opts(Backend::Mprotect), |s: &mut [u8; 40]| s.fill(0x42))
                .unwrap();
        drop_cap_ipc_lock();
        set_memlock_limit(4096); // exactly the one page the secret already holds
        let err = secret.rotate().unwrap_err();
        assert!(matches!(err.error(), Error::MemoryLock { .. }), "{err:?}");
        let secret = err.into_handle();
        assert_eq!(*secret.read().unwrap(), [0x42; 40]);
    });
}

#[test]
fn constant_time_comparison() {
    let token = Protected::<[u8; 32]>::init_with_in(Dedicated, |t| t.fill(0xAB)).unwrap();
    assert!(token.read().unwrap().ct_eq(&[0xAB; 32]));
    let mut wrong = [0xAB; 32];
    wrong[31] = 0;
    assert!(!token.read().unwrap().ct_eq(&wrong));
    let bytes =
        Protected::<[u8]>::init_slice_with_in(Dedicated, 3, |b| b.copy_from_slice(b"pin")).unwrap();
    assert!(bytes.read().unwrap().ct_eq(b"pin"));
    assert!(!bytes.read().unwrap().ct_eq(b"pun"));
}

/// Reads 16 bytes at `addr` of process `pid` through `/proc/PID/mem`.
#[cfg(target_os = "linux")]
fn read_proc_mem(pid: &str, addr: usize) -> std::io::Result<Vec<u8>> {
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    mem.seek(SeekFrom::Start(u64::try_from(addr).unwrap()))?;
    let mut buf = vec![0; 16];
    mem.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(target_os = "linux")]
fn secret_memory_variant(test: &str, backend: Backend) {
    const READER: &str = "SIEGEL_TEST_READ_AT";
    if let (true, Ok(target)) = (is_child(test), std::env::var(READER)) {
        // The reader: another process trying /proc/PID/mem.
        let (pid, addr) = target.split_once(':').unwrap();
        let addr = usize::from_str_radix(addr, 16).unwrap();
        match read_proc_mem(pid, addr) {
            Ok(bytes) => println!("read {bytes:02x?}"),
            Err(err) => println!("denied {err}"),
        }
        std::process::exit(0);
    }
    let memory = Options::new().backend(backend).memory(MemoryPolicy::RequireSecret);
    let secret = match Protected::init_with_in(memory, |s: &mut [u8; 32]| s.fill(0x5A)) {
        Ok(secret) => secret,
        Err(Error::SecretMemory { source }) if source.raw_os_error() == Some(libc::ENOSYS) => {
            assert!(
                std::env::var(support::REQUIRE_PKU).as_deref() != Ok("1"),
                "memfd_secret must work in the PKU VM"
            );
            println!("{test}: skipped: memfd_secret unavailable ({source})");
            return;
        }
        Err(err) => panic!("{err}"),
    };
    let plain =
        Protected::init_with_in(Options::new().backend(backend), |s: &mut [u8; 32]| s.fill(0x5A))
            .unwrap();
    assert_eq!(secret.info().memory, Memory::Secret);
    assert_eq!(plain.info().memory, Memory::Anonymous);
    assert_eq!(*secret.read().unwrap(), [0x5A; 32], "works with {backend:?}");
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let start = secret.info().data_pages.start;
    let line = maps.lines().find(|l| l.starts_with(&format!("{start:x}-"))).unwrap();
    assert!(line.contains("secretmem"), "{line}");

    let pid = std::process::id().to_string();
    let read_at = |addr: usize| {
        let out = run_child(test, &[(READER, &format!("{pid}:{addr:x}"))]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let anonymous = read_at(plain.info().secret.start);
    assert!(anonymous.contains("read [5a, 5a"), "root reads sealed anonymous memory: {anonymous}");
    let secret_mem = read_at(secret.info().secret.start);
    assert!(
        secret_mem.contains("denied"),
        "memfd_secret memory must not be readable: {secret_mem}"
    );
}

#[cfg_attr(miri, ignore = "reads /proc, which Miri isolation refuses")]
#[cfg(target_os = "linux")] // memfd_secret, /proc/PID/mem
#[test]
fn secret_memory_is_out_of_reach_of_proc_pid_mem() {
    let test = "secret_memory_is_out_of_reach_of_proc_pid_mem";
    for backend in backends(test) {
        secret_memory_variant(test, backend);
    }
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn prefer_secret_memory_falls_back_or_uses_it() {
    let secret =
        Protected::<u64>::zeroed_in(Options::new().memory(MemoryPolicy::PreferSecret)).unwrap();
    let available =
        Protected::<u64>::zeroed_in(Options::new().memory(MemoryPolicy::RequireSecret)).is_ok();
    let expected = if available { Memory::Secret } else { Memory::Anonymous };
    assert_eq!(secret.info().memory, expected);
}

/// Forks, runs `child` in the child (its exit status: 0 for success), waits
/// at most 20 s, and asserts it succeeded.
#[cfg(unix)]
fn in_fork(what: &str, child: impl FnOnce() -> bool) {
    // SAFETY: the child runs `child` and ends with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(false);
        // SAFETY: _exit ends the child at once, running no destructors.
        unsafe { libc::_exit(i32::from(!ok)) };
    }
    let start = std::time::Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: waits for the child just forked.
        if unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) } == pid {
            break;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{what}: the fork child hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{what}: {status:#x}");
}

#[test]
#[cfg_attr(miri, ignore = "forks a child process")]
#[cfg(unix)] // fork
fn a_fork_child_is_told_the_parents_secrets_are_not_here_and_makes_its_own() {
    // A daemon that forks after loading its keys: in the child the parent's
    // secrets answer `Error::Forked` on every path (not a fault, not a wrong
    // diagnosis), the child makes and uses its own — from the same `Pool` too
    // — and an open handle that crossed the fork panics with the reason.
    let test = "a_fork_child_is_told_the_parents_secrets_are_not_here_and_makes_its_own";
    for backend in backends(test) {
        let env = [("SIEGEL_BACKEND", if backend == Backend::Pku { "pku" } else { "mprotect" })];
        in_child(test, &env, || {
            let mut dedicated =
                Protected::<[u8; 32]>::init_with_in(Dedicated, |s| s.fill(4)).unwrap();
            let pool = siegel::Pool::new();
            let pooled = Protected::init_with_in(&pool, |s: &mut [u8; 32]| s.fill(5)).unwrap();
            let open = Protected::<[u8; 32]>::init_with_in(Dedicated, |s| s.fill(6)).unwrap();
            let open = open.into_read_only().map_err(|e| e.into_parts().0).unwrap();
            in_fork("the parent's secrets in the child", move || {
                let forked = |r: Result<u8, Error>| matches!(r, Err(Error::Forked));
                let message = Error::Forked.to_string();
                assert!(message.contains("parent") && message.contains("after forking"));
                assert!(forked(dedicated.read().map(|g| g[0])));
                assert!(forked(pooled.read().map(|g| g[0])));
                assert!(forked(dedicated.write().map(|g| g[0])));
                assert!(forked(dedicated.with_read(|s| Ok(s[0]))));
                let refused = dedicated.rotate().map(|_| ()).map_err(|e| e.into_parts().0);
                assert!(matches!(refused, Err(Error::Forked)), "{refused:?}");
                let deref = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| open[0]));
                assert!(deref.is_err(), "an open handle that crossed the fork gave bytes");
                let own = Protected::<[u8; 32]>::init_with_in(Dedicated, |s| s.fill(8)).unwrap();
                let own_pooled =
                    Protected::init_with_in(&pool, |s: &mut [u8; 32]| s.fill(9)).unwrap();
                own.read().unwrap()[0] == 8 && own_pooled.read().unwrap()[0] == 9
            });
        });
    }
}

#[test]
#[cfg_attr(miri, ignore = "forks a child process")]
#[cfg(unix)] // fork
fn a_fork_child_drops_its_handles_without_touching_the_parents_pages() {
    // In the child the pages are absent (MADV_DONTFORK): dropping a dedicated or
    // pooled handle there must neither fault nor unmap anything; siegel knows it
    // is in a child by its pid, cached per process and reset on fork.
    in_child("a_fork_child_drops_its_handles_without_touching_the_parents_pages", &[], || {
        let dedicated = Protected::<[u8; 32]>::init_with_in(Dedicated, |s| s.fill(4)).unwrap();
        let pool = siegel::Pool::new();
        let pooled = Protected::init_with_in(&pool, |s: &mut [u8; 32]| s.fill(5)).unwrap();
        // SAFETY: the child only drops the handles and exits with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            drop(dedicated);
            drop(pooled);
            drop(pool);
            // SAFETY: _exit ends the child at once, running no destructors.
            unsafe { libc::_exit(7) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        unsafe { libc::waitpid(pid, &raw mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7, "child: {status:#x}");
        assert_eq!(*dedicated.read().unwrap(), [4; 32]);
        assert_eq!(*pooled.read().unwrap(), [5; 32]);
    });
}
