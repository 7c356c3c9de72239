//! Shared fixtures for the integration tests: child processes, `/proc` readers, and
//! the PKU skip rule. Included by each test file with `mod support;`.
//!
//! Tests that must crash run in a child: the test binary re-runs itself filtered to
//! one test with `SIEGEL_TEST_CHILD` set, and the parent asserts how it died. This
//! keeps the multithreaded harness alive and avoids a bare `fork`.
//!
//! The child runs, the PKU skip rule and [`expect_sigsegv`] build everywhere (on
//! Windows, run under Wine by `.ci/windows`, a stray access dies of
//! `STATUS_ACCESS_VIOLATION` instead of `SIGSEGV`). The rest is POSIX
//! (`#[cfg(unix)]`: signals, pipes, rlimits) or Linux (`#[cfg(target_os =
//! "linux")]`: `/proc`, capabilities, seccomp, the map count).

#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(unsafe_code, reason = "tests simulate memory-safety bugs and make raw syscalls")]

#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
use std::{
    io::Write as _,
    process::{Command, ExitStatus, Output},
};

use siegel::{pku_support, Backend, Options};

/// The environment variable that marks a child run and names its test.
const CHILD: &str = "SIEGEL_TEST_CHILD";

/// Set to `1` on machines that have PKU (the CI VM): PKU tests fail instead of
/// skipping.
pub(crate) const REQUIRE_PKU: &str = "SIEGEL_REQUIRE_PKU";

/// How many times a test repeats a check that holds for every fresh secret
/// (`full` on the host): `SIEGEL_TEST_ROUNDS_PERCENT` (1..=100) of it. CI's
/// emulated-PKU VM sets 10: every check still runs there, under real
/// protection keys, a tenth as often (each fresh key there costs a revocation
/// round in an emulator ~50 times slower than the host, which ran them all).
pub(crate) fn rounds(full: usize) -> usize {
    let percent = std::env::var("SIEGEL_TEST_ROUNDS_PERCENT")
        .ok()
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| (1..=100).contains(p))
        .unwrap_or(100);
    (full * percent / 100).max(1)
}

/// Whether this process is the child run of `test`.
pub(crate) fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|t| t == test)
}

/// Re-runs this test binary filtered to exactly `test`, as a child marked with
/// `SIEGEL_TEST_CHILD`, with extra environment `envs`.
pub(crate) fn run_child(test: &str, envs: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("current_exe");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .envs(envs.iter().copied())
        .output()
        .expect("spawn child test process")
}

/// Runs `body` in a child process and asserts that the child died of `SIGSEGV`
/// (on Windows: of `STATUS_ACCESS_VIOLATION`, see [`died_of_access_violation`]).
/// Returns the child's output for further checks.
///
/// In the child, `body` runs and, if it returns, the child exits with status 0 —
/// which the parent reports as "the access did not fault".
pub(crate) fn expect_sigsegv(test: &str, body: impl FnOnce()) -> Output {
    if is_child(test) {
        no_core_dumps();
        body();
        std::process::exit(0);
    }
    let out = run_child(test, &[]);
    assert!(
        died_of_access_violation(out.status) || died_of_siegel_pku_abort(&out),
        "{test}: expected the child to die of {} (or siegel's deliberate abort on a \
         protection-key fault), got {:?}\nstdout:\n{}\nstderr:\n{}",
        if cfg!(windows) { "STATUS_ACCESS_VIOLATION" } else { "SIGSEGV" },
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    out
}

/// Whether a child died of a stray memory access: `SIGSEGV`.
#[cfg(unix)]
pub(crate) fn died_of_access_violation(status: ExitStatus) -> bool {
    status.signal() == Some(libc::SIGSEGV)
}

/// `STATUS_ACCESS_VIOLATION`, the exit code of a Windows process killed by an
/// unhandled access violation (a `SIGSEGV`'s counterpart).
#[cfg(windows)]
pub(crate) const ACCESS_VIOLATION: i32 = 0xC000_0005_u32.cast_signed();

/// Whether a child died of a stray memory access: an unhandled
/// `STATUS_ACCESS_VIOLATION`, which becomes the process's exit code.
#[cfg(windows)]
pub(crate) fn died_of_access_violation(status: ExitStatus) -> bool {
    status.code() == Some(ACCESS_VIOLATION)
}

/// The message siegel aborts with when a thread touches a siegel key without a
/// scope of its own.
pub(crate) const PKU_ABORT: &str = "siegel: a thread touched a protected secret";

/// Whether the child died of siegel's deliberate abort on a protection-key fault
/// (what a `SIGSEGV` on a siegel key becomes under PKU).
pub(crate) fn died_of_siegel_pku_abort(out: &Output) -> bool {
    #[cfg(unix)]
    let aborted = out.status.signal() == Some(libc::SIGABRT);
    // No protection keys on Windows: siegel never aborts on one.
    #[cfg(windows)]
    let aborted = false;
    aborted && String::from_utf8_lossy(&out.stderr).contains(PKU_ABORT)
}

/// Whether the calling thread can read the byte at `addr`, without faulting: the
/// kernel copies it into a pipe on this thread's behalf and checks the access
/// against this thread's page protection and PKRU (`EFAULT` if denied).
#[cfg(unix)]
pub(crate) fn readable_here(addr: usize) -> bool {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two descriptors for pipe(2).
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: write(2) reads one byte at `addr` in the kernel, which checks the
    // access and fails with EFAULT instead of faulting.
    let n = unsafe { libc::write(fds[1], core::ptr::with_exposed_provenance(addr), 1) };
    for fd in fds {
        // SAFETY: both descriptors were opened above and are closed once.
        unsafe { libc::close(fd) };
    }
    n == 1
}

/// Runs `body` in a child and asserts it exited successfully (for tests that
/// change process-wide state such as rlimits, capabilities or seccomp).
pub(crate) fn in_child(test: &str, envs: &[(&str, &str)], body: impl FnOnce()) {
    if is_child(test) {
        no_core_dumps();
        body();
        std::process::exit(0);
    }
    let out = run_child(test, envs);
    assert!(
        out.status.success(),
        "{test}: child failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// As [`run_child`], but a child still running after `limit` is killed (its
/// output so far is returned, with a kill status).
pub(crate) fn run_child_within(
    test: &str,
    envs: &[(&str, &str)],
    limit: std::time::Duration,
) -> Output {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    // Drain the pipes while waiting, so a chatty child cannot block on them.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut buf);
        buf
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break child.wait().expect("wait for the killed child");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// As [`in_child`], but the child must finish within `limit`: a hang is killed
/// and fails the test instead of hanging the suite.
pub(crate) fn in_child_within(
    test: &str,
    envs: &[(&str, &str)],
    limit: std::time::Duration,
    body: impl FnOnce(),
) {
    if is_child(test) {
        no_core_dumps();
        body();
        std::process::exit(0);
    }
    let start = std::time::Instant::now();
    let out = run_child_within(test, envs, limit);
    // The child's own report lines (measurements, skips) reach the log even
    // when the test passes (straight to fd 2: the harness captures eprintln!).
    for line in String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.starts_with(test)) {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    let hung = start.elapsed() > limit && was_killed(out.status);
    assert!(
        !hung && out.status.success(),
        "{test}: child {} ({:?})\nstdout:\n{}\nstderr:\n{}",
        if hung { format!("hung for more than {limit:?} and was killed") } else { "failed".into() },
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Whether a child died of [`run_child_within`]'s kill: `SIGKILL`.
#[cfg(unix)]
fn was_killed(status: ExitStatus) -> bool {
    status.signal() == Some(libc::SIGKILL)
}

/// Whether a child died of [`run_child_within`]'s kill: std's `Child::kill` is
/// `TerminateProcess(handle, 1)`, so the exit code is 1.
#[cfg(windows)]
fn was_killed(status: ExitStatus) -> bool {
    status.code() == Some(1)
}

/// Sets `RLIMIT_CORE` to 0 so crashing children write no core files.
#[cfg(unix)]
pub(crate) fn no_core_dumps() {
    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY:
    // - `zero` is a valid `struct rlimit`; lowering a limit is always allowed.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &raw const zero) };
}

/// Nothing to do: a crashing Windows process writes no core file (Windows Error
/// Reporting keeps a dump only where `LocalDumps` is configured; Wine has none).
#[cfg(windows)]
pub(crate) fn no_core_dumps() {}

/// The backends this machine can run: always `Mprotect`, plus `Pku` when the CPU
/// and kernel provide it. Without PKU, prints why the PKU variant is skipped —
/// or panics if `SIEGEL_REQUIRE_PKU=1`.
///
/// With `SIEGEL_PKU_ONLY=1` (the CI's PKU VM, where the host run already
/// covered page protection) only the PKU variant runs.
pub(crate) fn backends(test: &str) -> Vec<Backend> {
    let pku_only = std::env::var("SIEGEL_PKU_ONLY").as_deref() == Ok("1");
    let mut all = if pku_only { Vec::new() } else { vec![Backend::Mprotect] };
    if pku_available(&format!("{test} (its PKU variant)")) {
        all.push(Backend::Pku);
    }
    all
}

/// Whether PKU is available; if not, prints "skipped: no PKU" for `test`, or
/// panics when `SIEGEL_REQUIRE_PKU=1`.
pub(crate) fn pku_available(test: &str) -> bool {
    let support = pku_support();
    if support.is_available() {
        return true;
    }
    assert!(
        std::env::var(REQUIRE_PKU).as_deref() != Ok("1"),
        "{test}: SIEGEL_REQUIRE_PKU=1 but PKU is unavailable: {support}"
    );
    // Straight to fd 2: the harness captures `println!`/`eprintln!` of passing
    // tests, and a skip must be visible.
    let _ = writeln!(std::io::stderr(), "{test}: skipped: no PKU ({support})");
    false
}

/// Options forcing `backend`.
pub(crate) fn opts(backend: Backend) -> Options {
    Options::new().backend(backend)
}

/// The `VmFlags` of the mapping containing `addr`, from `/proc/self/smaps`.
#[cfg(target_os = "linux")]
pub(crate) fn vm_flags(addr: usize) -> Vec<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((start, end)) = range.split_once('-') {
                if let (Ok(start), Ok(end)) =
                    (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
                {
                    inside = (start..end).contains(&addr);
                    continue;
                }
            }
        }
        if inside {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                return flags.split_whitespace().map(str::to_owned).collect();
            }
        }
    }
    panic!("no mapping contains {addr:#x}");
}

/// Drops `CAP_IPC_LOCK` from the effective set, so `RLIMIT_MEMLOCK` applies even
/// when the tests run as root.
#[cfg(target_os = "linux")]
pub(crate) fn drop_cap_ipc_lock() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_IPC_LOCK: u32 = 14;
    let mut header = Header { version: VERSION_3, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY:
    // - capget(2) takes a header and an array of two `Data` for version 3.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
    assert_eq!(rc, 0, "capget: {}", std::io::Error::last_os_error());
    data[0].effective &= !(1 << CAP_IPC_LOCK);
    // SAFETY:
    // - capset(2) takes the same header and data; clearing an effective bit is
    //   always permitted.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

/// Sets the soft and hard `RLIMIT_MEMLOCK` to `bytes`.
#[cfg(unix)]
pub(crate) fn set_memlock_limit(bytes: u64) {
    let lim = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
    // SAFETY:
    // - `lim` is a valid `struct rlimit`; lowering a limit is always allowed.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raw const lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// Installs a seccomp filter on the calling thread that makes `mprotect` and
/// `pkey_mprotect` fail with `EPERM`, so a test can prove a code path makes no
/// such call (the filter stays for the thread's life: use it in a child).
#[cfg(target_os = "linux")]
pub(crate) fn forbid_mprotect() {
    const SECCOMP_DATA_NR: u32 = 0;
    let jeq = |nr: i64, skip: u8| libc::sock_filter {
        code: u16::try_from(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K).expect("code"),
        jt: skip,
        jf: 0,
        k: u32::try_from(nr).expect("syscall number"),
    };
    let ret = |k: u32| libc::sock_filter {
        code: u16::try_from(libc::BPF_RET | libc::BPF_K).expect("code"),
        jt: 0,
        jf: 0,
        k,
    };
    let eperm = libc::SECCOMP_RET_ERRNO | u32::try_from(libc::EPERM).expect("EPERM");
    let filter = [
        libc::sock_filter {
            code: u16::try_from(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS).expect("code"),
            jt: 0,
            jf: 0,
            k: SECCOMP_DATA_NR,
        },
        jeq(libc::SYS_mprotect, 2),
        jeq(libc::SYS_pkey_mprotect, 1),
        ret(libc::SECCOMP_RET_ALLOW),
        ret(eperm),
    ];
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len()).expect("len"),
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY:
    // - PR_SET_NO_NEW_PRIVS takes (1, 0, 0, 0) and is required before an
    //   unprivileged filter.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_NO_NEW_PRIVS: {}", std::io::Error::last_os_error());
    // SAFETY:
    // - `prog` points to a valid BPF program that outlives the call (the kernel
    //   copies it).
    let rc = unsafe {
        libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &raw const prog, 0, 0)
    };
    assert_eq!(rc, 0, "PR_SET_SECCOMP: {}", std::io::Error::last_os_error());
}

/// Exit status of a child whose SIGSEGV was caught by [`report_segv`].
#[cfg(target_os = "linux")]
pub(crate) const SEGV_REPORTED: i32 = 42;

/// Installs a SIGSEGV handler that prints `segv code=C pkey=K` (the fault's
/// `si_code` and `si_pkey`) and exits with [`SEGV_REPORTED`]. Async-signal-safe:
/// formats into a stack buffer and calls only `write` and `_exit`.
#[cfg(target_os = "linux")]
pub(crate) fn report_segv() {
    extern "C" fn handler(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
        // SAFETY:
        // - the kernel passes a valid siginfo; `si_code` is a plain field read.
        let code = unsafe { (*info).si_code };
        // SAFETY:
        // - for SIGSEGV the kernel fills `_sigfault`; on x86-64 `si_pkey` is the
        //   u32 at byte offset 32 (`si_addr` at 16, `si_addr_lsb` at 24, then the
        //   8-aligned union holding `_pkey`).
        let pkey = unsafe { info.cast::<u8>().wrapping_add(32).cast::<u32>().read_unaligned() };
        let mut buf = [0u8; 64];
        let mut len = 0;
        for part in [
            &b"segv code="[..],
            &digits(i64::from(code)),
            b" pkey=",
            &digits(i64::from(pkey)),
            b"\n",
        ] {
            for &byte in part.iter().take_while(|&&b| b != 0) {
                buf[len] = byte;
                len += 1;
            }
        }
        // SAFETY:
        // - `buf[..len]` is initialised; write(2) and _exit(2) are async-signal-safe.
        unsafe { libc::write(1, buf.as_ptr().cast(), len) };
        // SAFETY:
        // - `_exit` is async-signal-safe and ends the process at once.
        unsafe { libc::_exit(SEGV_REPORTED) };
    }

    /// Decimal digits of `n`, NUL-padded (no allocation).
    fn digits(mut n: i64) -> [u8; 20] {
        let mut out = [0u8; 20];
        let mut rev = [0u8; 20];
        let mut len = 0;
        let negative = n < 0;
        loop {
            rev[len] = b'0' + u8::try_from((n % 10).unsigned_abs()).unwrap_or(0);
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut at = 0;
        if negative {
            out[0] = b'-';
            at = 1;
        }
        for i in 0..len {
            out[at + i] = rev[len - 1 - i];
        }
        out
    }

    install_sigsegv_handler(handler);
}

/// Installs `handler` as this process's `SA_SIGINFO` handler for `SIGSEGV`. The
/// handler must be async-signal-safe.
#[cfg(unix)]
pub(crate) fn install_sigsegv_handler(
    handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void),
) {
    // SAFETY:
    // - an all-zero `sigaction` is a valid starting value (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { core::mem::zeroed() };
    #[allow(clippy::as_conversions, reason = "sighandler_t is an address: no From exists")]
    let handler = handler as *const () as usize;
    action.sa_sigaction = handler;
    action.sa_flags = libc::SA_SIGINFO;
    // SAFETY:
    // - `action` is valid; the previous action is not requested; the caller
    //   guarantees the handler is async-signal-safe.
    let rc = unsafe { libc::sigaction(libc::SIGSEGV, &raw const action, core::ptr::null_mut()) };
    assert_eq!(rc, 0, "sigaction: {}", std::io::Error::last_os_error());
}

/// Reads `len` bytes at `addr` of this process through `/proc/self/mem`, which
/// ignores page protection (the kernel reads with `FOLL_FORCE`): what a debugger
/// or a same-user process would find. `Err` if nothing is mapped there.
#[cfg(target_os = "linux")]
pub(crate) fn read_own_memory(addr: usize, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let mem = std::fs::File::open("/proc/self/mem")?;
    let mut buf = vec![0; len];
    mem.read_exact_at(&mut buf, u64::try_from(addr).expect("address"))?;
    Ok(buf)
}

/// `VirtualQuery(addr)`—the region of pages with the same state and protection
/// that starts at `addr`'s page (`State`: `MEM_COMMIT`, `MEM_RESERVE` or
/// `MEM_FREE`; `Protect`: `PAGE_NOACCESS`, `PAGE_READONLY`, ...).
#[cfg(windows)]
pub(crate) fn virtual_query(
    addr: usize,
) -> std::io::Result<windows_sys::Win32::System::Memory::MEMORY_BASIC_INFORMATION> {
    use windows_sys::Win32::System::Memory::{VirtualQuery, MEMORY_BASIC_INFORMATION};
    // SAFETY:
    // - an all-zero MEMORY_BASIC_INFORMATION is a valid out-parameter
    //   (integers and pointers).
    let mut info: MEMORY_BASIC_INFORMATION = unsafe { core::mem::zeroed() };
    // SAFETY:
    // - VirtualQuery only writes `info`, whose size is passed [1]; any address
    //   may be queried.
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualquery
    let got = unsafe {
        VirtualQuery(
            core::ptr::with_exposed_provenance(addr),
            &raw mut info,
            size_of::<MEMORY_BASIC_INFORMATION>(),
        )
    };
    if got == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(info)
}

/// Reads `len` bytes at `addr` of this process as a debugger would: what
/// `ReadProcessMemory` finds, after making each committed `PAGE_NOACCESS` page in
/// the range readable (`VirtualProtect`, as a debugger does with
/// `VirtualProtectEx`); their protection is put back before this returns.
/// `ReadProcessMemory` alone honours page protection, where Linux's
/// `/proc/self/mem` ignores it. `Err` if a page of the range is not committed
/// (released or decommitted: nothing is there).
///
/// Changes protection for a moment, which Linux's read does not: meant for a
/// test's own secret, or the range of one it dropped. Such a range may be
/// released and its address reused by another thread meanwhile: a release is
/// tolerated, but a protection change by that thread inside the moment would
/// be undone (a debugger stops every thread first; this does not).
#[cfg(windows)]
pub(crate) fn read_own_memory(addr: usize, len: usize) -> std::io::Result<Vec<u8>> {
    use windows_sys::Win32::System::{
        Diagnostics::Debug::ReadProcessMemory,
        Memory::{VirtualProtect, MEM_COMMIT, PAGE_NOACCESS, PAGE_READONLY},
        Threading::GetCurrentProcess,
    };
    let end = addr.checked_add(len).expect("range end");
    // The inaccessible regions opened for the copy: (base, size, old protection).
    let mut opened = Vec::new();
    let mut at = addr;
    let found = loop {
        if at >= end {
            break Ok(());
        }
        let info = match virtual_query(at) {
            Ok(info) => info,
            Err(err) => break Err(err),
        };
        if info.State != MEM_COMMIT {
            break Err(std::io::Error::other(format!("nothing committed at {at:#x}")));
        }
        // The region's pages that overlap the range (pages are 4 KiB on x86-64).
        let base = info.BaseAddress;
        let size = (base.addr() + info.RegionSize).min(end.next_multiple_of(4096)) - base.addr();
        if info.Protect == PAGE_NOACCESS {
            let mut old = 0;
            // SAFETY:
            // - the pages are committed and inaccessible, so no Rust reference
            //   reads or writes them; making them readable invalidates nothing,
            //   and the old protection is put back below [1].
            //
            // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualprotect
            let ok = unsafe { VirtualProtect(base, size, PAGE_READONLY, &raw mut old) };
            if ok == 0 {
                break Err(std::io::Error::last_os_error());
            }
            opened.push((base, size, old));
        }
        at = base.addr() + size;
    };
    let mut buf = vec![0; len];
    // SAFETY:
    // - GetCurrentProcess has no preconditions and cannot fail [1].
    //
    // [1] https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getcurrentprocess
    let process = unsafe { GetCurrentProcess() };
    let copied = found.and_then(|()| {
        let mut read = 0;
        // SAFETY:
        // - `process` is the pseudo handle of this process, with full access; `buf` is
        //   writable for `len` bytes; a range that is not readable makes the call
        //   fail, it does not fault [1].
        //
        // [1] https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-readprocessmemory
        let ok = unsafe {
            ReadProcessMemory(
                process,
                core::ptr::with_exposed_provenance(addr),
                buf.as_mut_ptr().cast(),
                len,
                &raw mut read,
            )
        };
        if ok == 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    });
    for (base, size, old) in opened {
        let mut was = 0;
        // SAFETY:
        // - puts back the protection these pages had on entry.
        let ok = unsafe { VirtualProtect(base, size, old, &raw mut was) };
        // A range read after its secret was dropped may have been released
        // (and its address taken again) by another test's thread meanwhile.
        let released = || virtual_query(base.addr()).map_or(true, |i| i.State != MEM_COMMIT);
        assert!(ok != 0 || released(), "VirtualProtect back: {}", std::io::Error::last_os_error());
    }
    copied.map(|()| buf)
}

/// The permissions (`rw-p`, `---p`, ...) of every mapping of this process that
/// overlaps `range`, with their bounds, from `/proc/self/maps`.
#[cfg(target_os = "linux")]
pub(crate) fn maps_in(range: core::ops::Range<usize>) -> Vec<(usize, usize, String)> {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let (start, end) =
                (usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?);
            let perms = fields.next()?.to_owned();
            (start < range.end && range.start < end).then_some((start, end, perms))
        })
        .collect()
}

/// `VmLck` of this process in kB, from `/proc/self/status`.
#[cfg(target_os = "linux")]
pub(crate) fn vm_lck_kb() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmLck in /proc/self/status")
}

/// Fills the process's map count (`vm.max_map_count`) with one-page mappings
/// that cannot merge (alternately readable and inaccessible), leaving `spare`
/// map entries free. Returns the pages still mapped, for [`release_maps`]. For
/// child processes only.
#[cfg(target_os = "linux")]
pub(crate) fn exhaust_map_count(spare: usize) -> Vec<usize> {
    let mut made: Vec<usize> = Vec::with_capacity(70_000);
    loop {
        let prot = if made.len().is_multiple_of(2) { libc::PROT_READ } else { libc::PROT_NONE };
        // SAFETY:
        // - a fresh anonymous mapping at an address the kernel picks replaces nothing.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                4096,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            break;
        }
        made.push(ptr.addr());
    }
    release_maps(&mut made, spare);
    made
}

/// Unmaps `n` of the pages [`exhaust_map_count`] made, freeing up to `n` map
/// entries.
#[cfg(target_os = "linux")]
pub(crate) fn release_maps(pages: &mut Vec<usize>, n: usize) {
    for _ in 0..n {
        let Some(addr) = pages.pop() else { return };
        // SAFETY:
        // - `addr` is one of the filler pages, referenced by nothing.
        unsafe { libc::munmap(core::ptr::with_exposed_provenance_mut(addr), 4096) };
    }
}
