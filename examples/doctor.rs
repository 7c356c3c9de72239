//! What this machine lets siegel protect, and what a scope costs here.
//!
//! ```sh
//! cargo run --release --example doctor            # for a person
//! cargo run --release --example doctor -- --json  # one flat JSON object, for tooling
//! ```
//!
//! Reports the CPU's PKU/OSPKE bits, whether the kernel hands out protection keys
//! and how many are free, `memfd_secret`, `RLIMIT_MEMLOCK` and `vm.max_map_count`
//! with the number of regions each allows, the core-dump settings, which backend
//! siegel picks and why, and the measured cost of a read scope per backend.
//!
//! The JSON schema is flat and stable (`"schema": "siegel-doctor/1"`): every key
//! is always present; `null` means "does not apply" or "unlimited" as the key's
//! comment in [`Report::fields`] says. New keys may be added; none will change meaning.

#![allow(unsafe_code, reason = "the probes are raw system calls siegel does not expose")]

use std::{
    fmt::Write as _,
    fs,
    hint::black_box,
    io,
    time::{Duration, Instant},
};

use siegel::{pku_support, Backend, Dedicated, Options, Platform, Protected};

/// Each siegel region of up to this many secret bytes locks one 4 KiB page (the
/// rest of the page holds the canary).
const ONE_PAGE_SECRET: usize = 4080;
/// Mappings per region in `/proc/self/maps`: two guard pages and the data pages.
const MAPS_PER_REGION: u64 = 3;
/// `CAP_IPC_LOCK`: `mlock` ignores `RLIMIT_MEMLOCK`.
const CAP_IPC_LOCK: u32 = 14;
/// How long each backend's scope loop runs.
const SCOPE_TIME: Duration = Duration::from_millis(500);

fn main() {
    let json = std::env::args().skip(1).any(|arg| arg == "--json");
    let report = Report::collect();
    if json {
        println!("{}", report.to_json());
    } else {
        report.print_human();
    }
}

/// Everything the doctor found; collected once, printed either way.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools, reason = "a flat list of yes/no findings")]
struct Report {
    /// `siegel::platform()`: which protections this OS provides at all.
    platform: Platform,
    cpu_pku: bool,
    cpu_ospke: bool,
    /// `siegel::pku_support()`: the detection siegel itself uses.
    pku_available: bool,
    pku_support: String,
    pkeys: KeyProbe,
    memfd_secret: Result<(), io::Error>,
    memlock: Limit,
    cap_ipc_lock: bool,
    locked_bytes: Option<u64>,
    max_map_count: Option<u64>,
    maps_in_use: Option<u64>,
    core_pattern: Option<String>,
    core: Limit,
    dumpable: bool,
    backend_env: Option<String>,
    choice: Choice,
    scope_ns_mprotect: Option<f64>,
    scope_ns_pku: Option<f64>,
    /// The floor under an mprotect scope: two bare `mprotect` calls and a load.
    floor_ns_mprotect: Option<f64>,
    /// The floor under a PKU scope: RDPKRU, WRPKRU, a load, WRPKRU.
    floor_ns_pku: Option<f64>,
}

/// How many protection keys `pkey_alloc` handed out before it refused.
#[derive(Debug)]
struct KeyProbe {
    free: u32,
    /// The refusal that ended the probe (`ENOSPC` once all keys are taken).
    stop: Option<io::Error>,
}

/// A resource limit; `None` is `RLIM_INFINITY`.
#[derive(Debug, Clone, Copy)]
struct Limit {
    soft: Option<u64>,
    hard: Option<u64>,
}

/// Which backend new regions get, and why.
#[derive(Debug)]
struct Choice {
    /// `pku`, `mprotect` or `none` (every allocation fails).
    backend: &'static str,
    reason: String,
    /// `Protected::zeroed_in(siegel::Dedicated)` with the default options, as a user would call it.
    mechanism: Result<String, String>,
}

impl Report {
    fn collect() -> Self {
        let flags = probes::cpu_flags();
        // Probe the keys first: the scope measurement below takes one.
        let pkeys = probes::probe_pkeys();
        let memlock = probes::memlock_limit();
        Self {
            platform: siegel::platform(),
            cpu_pku: flags.iter().any(|f| f == "pku"),
            cpu_ospke: flags.iter().any(|f| f == "ospke"),
            pku_available: pku_support().is_available(),
            pku_support: pku_support().to_string(),
            pkeys,
            memfd_secret: probes::probe_memfd_secret(),
            memlock,
            cap_ipc_lock: probes::cap_effective(CAP_IPC_LOCK),
            locked_bytes: probes::status_kib("VmLck").map(|kib| kib * 1024),
            max_map_count: read_number("/proc/sys/vm/max_map_count"),
            maps_in_use: fs::read_to_string("/proc/self/maps")
                .ok()
                .and_then(|maps| u64::try_from(maps.lines().count()).ok()),
            core_pattern: fs::read_to_string("/proc/sys/kernel/core_pattern")
                .ok()
                .map(|s| s.trim_end().to_owned()),
            core: probes::core_limit(),
            dumpable: probes::is_dumpable(),
            backend_env: std::env::var(Backend::ENV).ok(),
            choice: backend_choice(),
            scope_ns_mprotect: scope_cost(Backend::Mprotect),
            scope_ns_pku: if pku_support().is_available() {
                scope_cost(Backend::Pku)
            } else {
                None
            },
            floor_ns_mprotect: probes::floor_cost(false),
            floor_ns_pku: if pku_support().is_available() {
                probes::floor_cost(true)
            } else {
                None
            },
        }
    }

    /// One-page regions this process may still lock; `None` is unlimited.
    fn memlock_regions(&self) -> Option<u64> {
        if self.cap_ipc_lock {
            return None;
        }
        self.memlock_limit_regions()
    }

    /// One-page regions `RLIMIT_MEMLOCK` alone allows, ignoring `CAP_IPC_LOCK`.
    fn memlock_limit_regions(&self) -> Option<u64> {
        let soft = self.memlock.soft?;
        Some(soft.saturating_sub(self.locked_bytes.unwrap_or(0)) / probes::page_size())
    }

    /// Regions `vm.max_map_count` still allows.
    fn map_regions(&self) -> Option<u64> {
        Some(self.max_map_count?.saturating_sub(self.maps_in_use?) / MAPS_PER_REGION)
    }

    /// The flat JSON schema: `(key, value)` in a fixed order.
    fn fields(&self) -> Vec<(&'static str, Json)> {
        vec![
            ("schema", Json::Str("siegel-doctor/1".into())),
            // What the OS provides at all (the README's platform table).
            ("os", Json::Str(self.platform.os.into())),
            ("os_protection_keys", Json::Bool(self.platform.protection_keys)),
            ("os_secret_memory", Json::Bool(self.platform.secret_memory)),
            ("os_core_dump_exclusion", Json::Bool(self.platform.core_dump_exclusion)),
            ("os_fork_exclusion", Json::Bool(self.platform.fork_exclusion)),
            ("os_write_behind_seal", Json::Bool(self.platform.write_behind_seal)),
            ("cpu_pku", Json::Bool(self.cpu_pku)),
            ("cpu_ospke", Json::Bool(self.cpu_ospke)),
            ("pku_available", Json::Bool(self.pku_available)),
            ("pku_support", Json::Str(self.pku_support.clone())),
            ("pkeys_free", Json::Int(self.pkeys.free.into())),
            // null when keys were handed out until the kernel said ENOSPC.
            ("pkeys_error", Json::opt_str(self.pkeys.stop.as_ref().map(ToString::to_string))),
            ("memfd_secret", Json::Bool(self.memfd_secret.is_ok())),
            (
                "memfd_secret_error",
                Json::opt_str(self.memfd_secret.as_ref().err().map(ToString::to_string)),
            ),
            // null: unlimited.
            ("memlock_soft_bytes", Json::opt_int(self.memlock.soft)),
            ("memlock_hard_bytes", Json::opt_int(self.memlock.hard)),
            ("memlock_locked_bytes", Json::opt_int(self.locked_bytes)),
            ("cap_ipc_lock", Json::Bool(self.cap_ipc_lock)),
            // null: unlimited (CAP_IPC_LOCK or RLIM_INFINITY).
            ("memlock_regions", Json::opt_int(self.memlock_regions())),
            // What the limit alone would allow without CAP_IPC_LOCK; null: unlimited.
            ("memlock_limit_regions", Json::opt_int(self.memlock_limit_regions())),
            ("max_map_count", Json::opt_int(self.max_map_count)),
            ("maps_in_use", Json::opt_int(self.maps_in_use)),
            ("map_regions", Json::opt_int(self.map_regions())),
            ("core_pattern", Json::opt_str(self.core_pattern.clone())),
            // null: unlimited.
            ("core_soft_bytes", Json::opt_int(self.core.soft)),
            ("core_hard_bytes", Json::opt_int(self.core.hard)),
            ("dumpable", Json::Bool(self.dumpable)),
            ("siegel_backend_env", Json::opt_str(self.backend_env.clone())),
            ("backend", Json::Str(self.choice.backend.into())),
            ("backend_reason", Json::Str(self.choice.reason.clone())),
            ("default_mechanism", Json::opt_str(self.choice.mechanism.clone().ok())),
            ("default_error", Json::opt_str(self.choice.mechanism.clone().err())),
            ("scope_ns_mprotect", Json::opt_float(self.scope_ns_mprotect)),
            // null: no PKU here.
            ("scope_ns_pku", Json::opt_float(self.scope_ns_pku)),
            ("floor_ns_mprotect", Json::opt_float(self.floor_ns_mprotect)),
            ("floor_ns_pku", Json::opt_float(self.floor_ns_pku)),
            ("debug_build", Json::Bool(cfg!(debug_assertions))),
        ]
    }

    fn to_json(&self) -> String {
        let body: Vec<String> =
            self.fields().iter().map(|(key, value)| format!("  {}: {value}", quote(key))).collect();
        format!("{{\n{}\n}}", body.join(",\n"))
    }

    fn print_human(&self) {
        let yes = |b: bool| if b { "yes" } else { "no" };
        println!("siegel doctor: what this machine can protect\n");

        let platform = &self.platform;
        println!("Platform ({}: what the OS provides at all)", platform.os);
        line("protection keys possible", yes(platform.protection_keys));
        line("memfd_secret possible", yes(platform.secret_memory));
        line("pages left out of core dumps", yes(platform.core_dump_exclusion));
        line("pages left out of fork children", yes(platform.fork_exclusion));
        line("writes behind a seal", yes(platform.write_behind_seal));
        println!();

        println!("Protection keys (PKU)");
        if cfg!(not(target_os = "linux")) {
            let os = std::env::consts::OS;
            line("CPU reports PKU", &format!("not probed: {os} offers no protection keys"));
        } else if cfg!(target_arch = "x86_64") {
            line("CPU reports PKU", yes(self.cpu_pku));
            line("OS enabled it (OSPKE)", yes(self.cpu_ospke));
        } else {
            let arch = std::env::consts::ARCH;
            line("CPU reports PKU", &format!("no: PKU is an x86-64 feature, this CPU is {arch}"));
        }
        let keys = match &self.pkeys.stop {
            _ if self.pkeys.free > 0 => format!("yes, {} free", self.pkeys.free),
            Some(err) => format!("no ({err})"),
            None => "no".to_owned(),
        };
        line("kernel hands out keys", &keys);
        line("siegel's verdict", &self.pku_support);

        println!("\nMemory");
        let secretmem = match &self.memfd_secret {
            Ok(()) => "available".to_owned(),
            Err(err) => format!("unavailable ({err})"),
        };
        line("memfd_secret", &secretmem);
        if cfg!(windows) {
            let ws = format!(
                "minimum {}, maximum {} (siegel grows it as locked regions need)",
                bytes(self.memlock.soft),
                bytes(self.memlock.hard)
            );
            line("working set (VirtualLock's limit)", &ws);
            self.print_backend_and_cost();
            return;
        }
        let memlock = match (self.memlock.soft, self.cap_ipc_lock) {
            (_, true) => format!("{} (ignored: CAP_IPC_LOCK)", bytes(self.memlock.soft)),
            (soft, false) => bytes(soft),
        };
        line("RLIMIT_MEMLOCK", &memlock);
        let regions = match self.memlock_regions() {
            None if self.cap_ipc_lock => {
                format!("unlimited (the limit alone: {})", count(self.memlock_limit_regions()))
            }
            n => count(n),
        };
        line(&format!("  regions of <= {ONE_PAGE_SECRET} B it allows"), &regions);
        let maps = match (self.max_map_count, self.maps_in_use) {
            (Some(max), Some(used)) => format!("{max} ({used} in use)"),
            (Some(max), None) => max.to_string(),
            _ => "unknown".to_owned(),
        };
        line("vm.max_map_count", &maps);
        line("  regions it allows (3 maps each)", &count(self.map_regions()));

        println!("\nCore dumps (siegel's pages are MADV_DONTDUMP either way)");
        line("kernel.core_pattern", self.core_pattern.as_deref().unwrap_or("unknown"));
        let core = match self.core.soft {
            Some(0) => "0 (no core files)".to_owned(),
            soft => bytes(soft),
        };
        line("RLIMIT_CORE", &core);
        line("process dumpable", yes(self.dumpable));
        self.print_backend_and_cost();
    }

    fn print_backend_and_cost(&self) {
        println!("\nBackend");
        line(Backend::ENV, self.backend_env.as_deref().unwrap_or("(unset: auto)"));
        line("new regions get", &format!("{}: {}", self.choice.backend, self.choice.reason));
        match &self.choice.mechanism {
            Ok(mechanism) => line("Protected::zeroed_in(Dedicated) got", mechanism),
            Err(err) => line("Protected::zeroed_in(Dedicated) failed", err),
        }

        println!(
            "\nScope cost (read scope on a 32-byte secret, {} ms each)",
            SCOPE_TIME.as_millis()
        );
        line("mprotect", &ns(self.scope_ns_mprotect));
        let floor_label = if cfg!(windows) {
            "  floor: bare VirtualProtect pair + load"
        } else {
            "  floor: bare mprotect pair + load"
        };
        line(floor_label, &floor(self.floor_ns_mprotect, self.scope_ns_mprotect));
        line(
            "pku",
            &if self.pku_available { ns(self.scope_ns_pku) } else { "not available".into() },
        );
        if self.pku_available {
            line("  floor: bare WRPKRU pair + load", &floor(self.floor_ns_pku, self.scope_ns_pku));
        }
        if cfg!(debug_assertions) {
            println!("  (debug build: `cargo run --release --example doctor` for representative numbers)");
        }
    }
}

fn line(label: &str, value: &str) {
    println!("  {label:<34} {value}");
}

fn bytes(limit: Option<u64>) -> String {
    match limit {
        None => "unlimited".to_owned(),
        Some(n) if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        Some(n) if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        Some(n) => format!("{n} bytes"),
    }
}

fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// "N ns; siegel's scope is R× it".
fn floor(floor: Option<f64>, scope: Option<f64>) -> String {
    match (floor, scope) {
        (Some(f), Some(s)) if f > 0.0 => {
            format!("{f:.0} ns (siegel's scope: {:.2}x the floor)", s / f)
        }
        (Some(f), _) => format!("{f:.0} ns"),
        (None, _) => "failed".to_owned(),
    }
}

fn ns(value: Option<f64>) -> String {
    value.map_or_else(|| "failed".to_owned(), |ns| format!("{ns:.0} ns per scope"))
}

// --- probes ---------------------------------------------------------------

/// The probes of a Unix (Linux: every one; others: those that exist there).
#[cfg(not(windows))]
mod probes {
    use std::{fs, hint::black_box, io, time::Instant};

    use super::{KeyProbe, Limit, SCOPE_TIME};

    /// `RLIMIT_MEMLOCK`.
    pub(super) fn memlock_limit() -> Limit {
        rlimit(libc::RLIMIT_MEMLOCK)
    }

    /// `RLIMIT_CORE`.
    pub(super) fn core_limit() -> Limit {
        rlimit(libc::RLIMIT_CORE)
    }

    /// The `flags` of the first CPU in `/proc/cpuinfo` (the kernel lists `pku` when
    /// CPUID reports it and `ospke` when it enabled it).
    pub(super) fn cpu_flags() -> Vec<String> {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, flags)| flags.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Allocates protection keys until the kernel refuses, then frees them all.
    pub(super) fn probe_pkeys() -> KeyProbe {
        let mut keys = Vec::new();
        let stop = loop {
            // SAFETY: pkey_alloc(flags = 0, access_rights = 0) only reserves a key
            // for this process; it touches no memory.
            let ret = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0, 0) };
            match i32::try_from(ret) {
                Ok(key) if key >= 0 && keys.len() < 64 => keys.push(key),
                Ok(key) if key >= 0 => break None,
                _ => break Some(io::Error::last_os_error()),
            }
        };
        for &key in &keys {
            // SAFETY: a key this function allocated; no page is tagged with it.
            unsafe { libc::syscall(libc::SYS_pkey_free, key) };
        }
        let stop = stop.filter(|err| err.raw_os_error() != Some(libc::ENOSPC) || keys.is_empty());
        KeyProbe { free: u32::try_from(keys.len()).unwrap_or(u32::MAX), stop }
    }

    /// Whether `memfd_secret(0)` gives a file descriptor (Linux 5.14+, and before
    /// 6.5 only with `secretmem.enable=1` on the kernel command line).
    pub(super) fn probe_memfd_secret() -> Result<(), io::Error> {
        // SAFETY: memfd_secret(flags = 0) only creates a file descriptor.
        let ret = unsafe { libc::syscall(libc::SYS_memfd_secret, 0) };
        let fd = i32::try_from(ret).map_err(|_| io::Error::other("bad return value"))?;
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor this function just opened and nothing else uses.
        unsafe { libc::close(fd) };
        Ok(())
    }

    fn rlimit(resource: libc::__rlimit_resource_t) -> Limit {
        let mut rlim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `rlim` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(resource, &raw mut rlim) } != 0 {
            return Limit { soft: Some(0), hard: Some(0) };
        }
        let finite = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v);
        Limit { soft: finite(rlim.rlim_cur), hard: finite(rlim.rlim_max) }
    }

    /// `prctl(PR_GET_DUMPABLE)`: whether a crash of this process may dump core at all.
    pub(super) fn is_dumpable() -> bool {
        // SAFETY: PR_GET_DUMPABLE reads a flag of this process; the extra arguments are ignored.
        unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 }
    }

    pub(super) fn page_size() -> u64 {
        // SAFETY: sysconf has no preconditions.
        u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
    }

    /// A `Name:  123 kB` line of `/proc/self/status`, in KiB.
    pub(super) fn status_kib(name: &str) -> Option<u64> {
        status_field(name)?.split_whitespace().next()?.parse().ok()
    }

    /// Whether capability `bit` is in this process's effective set (`CapEff`).
    pub(super) fn cap_effective(bit: u32) -> bool {
        status_field("CapEff")
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .is_some_and(|caps| caps & (1 << bit) != 0)
    }

    fn status_field(name: &str) -> Option<String> {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        status.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key == name).then(|| value.trim().to_owned())
        })
    }

    /// Nanoseconds per bare scope on a locked page of our own, looping for
    /// [`SCOPE_TIME`]: two `mprotect` calls and a load, or (`pku`) RDPKRU, WRPKRU, a
    /// load and WRPKRU on a pkey-tagged page — the least the hardware and kernel
    /// cost, against which siegel's scope is measured.
    pub(super) fn floor_cost(pku: bool) -> Option<f64> {
        // SAFETY: sysconf has no preconditions.
        let len = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        // SAFETY: a fresh anonymous page chosen by the kernel replaces nothing.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: our own page; locking changes no contents.
        unsafe { libc::mlock(page, len) };
        let key = if pku {
            // SAFETY: pkey_alloc(0, PKEY_DISABLE_ACCESS) takes no pointers.
            let key = u32::try_from(unsafe { libc::syscall(libc::SYS_pkey_alloc, 0, 1) }).ok()?;
            // SAFETY: our own page, tagged with our own key.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pkey_mprotect,
                    page,
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    key,
                )
            };
            (rc == 0).then_some(key)?;
            Some(key)
        } else {
            // SAFETY: our own page; nothing references it.
            unsafe { libc::mprotect(page, len, libc::PROT_NONE) };
            None
        };
        let byte = page.cast::<u8>();
        let start = Instant::now();
        let mut scopes = 0_u32;
        while start.elapsed() < SCOPE_TIME {
            for _ in 0..256 {
                bare_scope(page, len, byte, key);
            }
            scopes += 256;
        }
        let elapsed = start.elapsed();
        // SAFETY: our own page, referenced by nothing.
        unsafe { libc::munmap(page, len) };
        if let Some(key) = key {
            // SAFETY: our own key; its page is gone.
            unsafe { libc::syscall(libc::SYS_pkey_free, key) };
        }
        Some(elapsed.as_secs_f64() * 1e9 / f64::from(scopes))
    }

    /// One bare scope (see [`floor_cost`]).
    #[inline(never)]
    fn bare_scope(page: *mut libc::c_void, len: usize, byte: *mut u8, key: Option<u32>) {
        match key {
            None => {
                // SAFETY: our own page; nothing references it.
                unsafe { libc::mprotect(page, len, libc::PROT_READ) };
                // SAFETY: readable now, zero-filled by mmap.
                black_box(unsafe { byte.read_volatile() });
                // SAFETY: as above.
                unsafe { libc::mprotect(page, len, libc::PROT_NONE) };
            }
            #[cfg(target_arch = "x86_64")]
            Some(key) => {
                let pkru: u32;
                // SAFETY: RDPKRU with ECX = 0 (pkey_alloc succeeded, so CR4.PKE is set).
                unsafe {
                    std::arch::asm!("rdpkru", in("ecx") 0, out("eax") pkru, out("edx") _, options(nomem, nostack));
                }
                let open = pkru & !(0b11 << (2 * key));
                // SAFETY: WRPKRU with ECX = EDX = 0; a compiler barrier (no `nomem`).
                unsafe {
                    std::arch::asm!("wrpkru", in("eax") open, in("ecx") 0, in("edx") 0, options(nostack));
                };
                // SAFETY: readable through the key now.
                black_box(unsafe { byte.read_volatile() });
                // SAFETY: as above, restoring the saved rights.
                unsafe {
                    std::arch::asm!("wrpkru", in("eax") pkru, in("ecx") 0, in("edx") 0, options(nostack));
                };
            }
            #[cfg(not(target_arch = "x86_64"))]
            Some(_) => {}
        }
    }
}

/// The probes of Windows: no protection keys, no `memfd_secret`, no rlimits;
/// `VirtualLock` is bounded by the working set's minimum size.
#[cfg(windows)]
mod probes {
    use std::{hint::black_box, io, time::Instant};

    use windows_sys::Win32::System::{
        Memory::{
            VirtualAlloc, VirtualFree, VirtualLock, VirtualProtect, MEM_COMMIT, MEM_RELEASE,
            MEM_RESERVE, PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE,
        },
        SystemInformation::{GetSystemInfo, SYSTEM_INFO},
        Threading::{GetCurrentProcess, GetProcessWorkingSetSize},
    };

    use super::{KeyProbe, Limit, SCOPE_TIME};

    fn unsupported() -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, "not on Windows")
    }

    pub(super) fn cpu_flags() -> Vec<String> {
        Vec::new()
    }

    pub(super) fn probe_pkeys() -> KeyProbe {
        KeyProbe { free: 0, stop: Some(unsupported()) }
    }

    pub(super) fn probe_memfd_secret() -> Result<(), io::Error> {
        Err(unsupported())
    }

    /// The working set's minimum (soft) and maximum (hard) size: `VirtualLock`
    /// can lock up to about the minimum (siegel grows it as regions need).
    pub(super) fn memlock_limit() -> Limit {
        let (mut min, mut max) = (0usize, 0usize);
        // SAFETY: no preconditions; a pseudo-handle that needs no closing.
        let process = unsafe { GetCurrentProcess() };
        // SAFETY: this process's handle and two writable sizes.
        let ok = unsafe { GetProcessWorkingSetSize(process, &raw mut min, &raw mut max) };
        if ok == 0 {
            return Limit { soft: None, hard: None };
        }
        Limit { soft: u64::try_from(min).ok(), hard: u64::try_from(max).ok() }
    }

    pub(super) fn core_limit() -> Limit {
        Limit { soft: None, hard: None }
    }

    pub(super) fn is_dumpable() -> bool {
        true
    }

    pub(super) fn cap_effective(_bit: u32) -> bool {
        false
    }

    pub(super) fn status_kib(_name: &str) -> Option<u64> {
        None
    }

    pub(super) fn page_size() -> u64 {
        // SAFETY: an all-zero SYSTEM_INFO is valid, and GetSystemInfo fills it.
        let mut info: SYSTEM_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is writable.
        unsafe { GetSystemInfo(&raw mut info) };
        u64::from(info.dwPageSize)
    }

    /// Nanoseconds per bare scope on a locked page of our own: two
    /// `VirtualProtect` calls and a load. No protection keys here.
    pub(super) fn floor_cost(pku: bool) -> Option<f64> {
        if pku {
            return None;
        }
        let len = usize::try_from(page_size()).ok()?;
        // SAFETY: a fresh committed page chosen by the system replaces nothing.
        let page = unsafe {
            VirtualAlloc(std::ptr::null(), len, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE)
        };
        if page.is_null() {
            return None;
        }
        let mut old = 0u32;
        // SAFETY: our own page; locking changes no contents.
        unsafe { VirtualLock(page, len) };
        // SAFETY: our own page; nothing references it.
        unsafe { VirtualProtect(page, len, PAGE_NOACCESS, &raw mut old) };
        let byte = page.cast::<u8>();
        let start = Instant::now();
        let mut scopes = 0_u32;
        while start.elapsed() < SCOPE_TIME {
            for _ in 0..256 {
                // SAFETY: our own page; nothing references it.
                unsafe { VirtualProtect(page, len, PAGE_READONLY, &raw mut old) };
                // SAFETY: readable now, zero-filled by VirtualAlloc.
                black_box(unsafe { byte.read_volatile() });
                // SAFETY: as above.
                unsafe { VirtualProtect(page, len, PAGE_NOACCESS, &raw mut old) };
            }
            scopes += 256;
        }
        let elapsed = start.elapsed();
        // SAFETY: our own page, referenced by nothing.
        unsafe { VirtualFree(page, 0, MEM_RELEASE) };
        Some(elapsed.as_secs_f64() * 1e9 / f64::from(scopes))
    }
}

fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

// --- siegel ---------------------------------------------------------------

/// What `Backend::from_env()` and `pku_support()` make of this machine.
fn backend_choice() -> Choice {
    let pku = pku_support();
    let (backend, reason) = match Backend::from_env() {
        Err(err) => ("none", err.to_string()),
        Ok(Backend::Pku) if pku.is_available() => {
            ("pku", format!("forced by {}=pku; {pku}", Backend::ENV))
        }
        Ok(Backend::Pku) => (
            "none",
            format!("{}=pku forbids falling back, and {pku}: every allocation fails", Backend::ENV),
        ),
        Ok(Backend::Mprotect) => ("mprotect", format!("forced by {}=mprotect", Backend::ENV)),
        Ok(_) if pku.is_available() => (
            "pku",
            "the CPU has PKU and OSPKE and the kernel hands out keys; past the free keys, \
             keys are virtualised (the least recently used closed region yields its key)"
                .to_owned(),
        ),
        Ok(_) => ("mprotect", format!("no protection keys: {pku}")),
    };
    let mechanism = Protected::<[u8; 32]>::zeroed_in(Dedicated)
        .map(|secret| secret.info().mechanism.to_string())
        .map_err(|err| err.to_string());
    Choice { backend, reason, mechanism }
}

/// Nanoseconds per read scope on a fresh 32-byte secret, looping for [`SCOPE_TIME`].
fn scope_cost(backend: Backend) -> Option<f64> {
    let secret: Protected<[u8; 32]> = Protected::zeroed_in(Options::new().backend(backend)).ok()?;
    let start = Instant::now();
    let mut scopes = 0_u32;
    while start.elapsed() < SCOPE_TIME {
        for _ in 0..256 {
            black_box(secret.read().ok()?[0]);
        }
        scopes += 256;
    }
    Some(start.elapsed().as_secs_f64() * 1e9 / f64::from(scopes))
}

// --- JSON -----------------------------------------------------------------

/// The few JSON values the flat schema needs.
#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(u64),
    Float(f64),
    Str(String),
}

impl Json {
    fn opt_int(value: Option<u64>) -> Self {
        value.map_or(Self::Null, Self::Int)
    }

    fn opt_float(value: Option<f64>) -> Self {
        value.map_or(Self::Null, Self::Float)
    }

    fn opt_str(value: Option<String>) -> Self {
        value.map_or(Self::Null, Self::Str)
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(n) => write!(f, "{n}"),
            Self::Float(x) if x.is_finite() => write!(f, "{x:.1}"),
            Self::Null | Self::Float(_) => f.write_str("null"),
            Self::Str(s) => f.write_str(&quote(s)),
        }
    }
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
