//! Scope cost: a read scope on the mprotect backend against the floor (two bare
//! `mprotect` calls on an identical locked page), nested scopes, write scopes,
//! the PKU backend where this machine has it, and region setup.
//!
//! `cargo bench --bench scope`; `python3 benches/ratios.py` prints the ratios of
//! the medians from that one run.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "the floor is measured with raw mprotect calls")]
#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]

use std::{hint::black_box, ptr::NonNull};

use criterion::{criterion_group, criterion_main, Criterion};
use siegel::{pku_support, Backend, Options, Protected};

/// A guard-page-framed, locked page to run bare `mprotect` pairs on: the same
/// kernel work a siegel scope on a 32-byte secret triggers.
struct BarePage {
    map: NonNull<libc::c_void>,
    page: *mut libc::c_void,
    len: usize,
}

impl BarePage {
    fn new() -> Self {
        // SAFETY: sysconf has no preconditions.
        let len = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap();
        // SAFETY: a fresh anonymous mapping chosen by the kernel replaces nothing.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                3 * len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        let page = map.cast::<u8>().wrapping_add(len).cast::<libc::c_void>();
        // SAFETY: the middle page of our own mapping; nothing references it.
        assert_eq!(unsafe { libc::mprotect(page, len, libc::PROT_READ | libc::PROT_WRITE) }, 0);
        // SAFETY: as above; locking changes no contents.
        assert_eq!(unsafe { libc::mlock(page, len) }, 0);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::mprotect(page, len, libc::PROT_NONE) }, 0);
        Self { map: NonNull::new(map).unwrap(), page, len }
    }

    fn open_close(&self) {
        // SAFETY: our own page; nothing references it.
        black_box(unsafe { libc::mprotect(self.page, self.len, libc::PROT_READ) });
        // SAFETY: as above.
        black_box(unsafe { libc::mprotect(self.page, self.len, libc::PROT_NONE) });
    }

    /// The pair with one load in between: what any read scope does at least
    /// (the load after `mprotect` pays the TLB refill).
    fn open_read_close(&self) -> u8 {
        // SAFETY: our own page; nothing references it.
        black_box(unsafe { libc::mprotect(self.page, self.len, libc::PROT_READ) });
        let last = self.page.cast::<u8>().wrapping_add(self.len - 32);
        // SAFETY: the page is readable now and was zero-filled by mmap.
        let byte = unsafe { last.read_volatile() };
        // SAFETY: as above.
        black_box(unsafe { libc::mprotect(self.page, self.len, libc::PROT_NONE) });
        byte
    }
}

/// The PKU floor: a pkey-tagged, locked page and a bare scope on it — RDPKRU,
/// WRPKRU (open), one load, WRPKRU (close) — what the hardware costs at least.
struct BareKeyPage {
    page: BarePage,
    key: u32,
}

impl BareKeyPage {
    /// `None` without protection keys.
    fn new() -> Option<Self> {
        let page = BarePage::new();
        // SAFETY: pkey_alloc(flags 0, PKEY_DISABLE_ACCESS) takes no pointers.
        let key = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0, 1) };
        let key = u32::try_from(key).ok()?;
        // SAFETY: our own page, tagged read-write with our key (access is then
        // governed by PKRU alone); nothing references it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pkey_mprotect,
                page.page,
                page.len,
                libc::PROT_READ | libc::PROT_WRITE,
                key,
            )
        };
        assert_eq!(rc, 0, "pkey_mprotect");
        Some(Self { page, key })
    }

    fn open_read_close(&self) -> u8 {
        let pkru: u32;
        // SAFETY: RDPKRU with ECX = 0 (PKU is available: pkey_alloc succeeded).
        unsafe {
            std::arch::asm!("rdpkru", in("ecx") 0, out("eax") pkru, out("edx") _, options(nomem, nostack));
        }
        let open = pkru & !(0b11 << (2 * self.key));
        // SAFETY: WRPKRU with ECX = EDX = 0; not `nomem`, so the load below stays
        // between the two writes.
        unsafe {
            std::arch::asm!("wrpkru", in("eax") open, in("ecx") 0, in("edx") 0, options(nostack));
        };
        let last = self.page.page.cast::<u8>().wrapping_add(self.page.len - 32);
        // SAFETY: the page is readable through the key now; zero-filled by mmap.
        let byte = unsafe { last.read_volatile() };
        // SAFETY: as above, restoring the saved rights.
        unsafe {
            std::arch::asm!("wrpkru", in("eax") pkru, in("ecx") 0, in("edx") 0, options(nostack));
        };
        byte
    }
}

/// The allocation floor: what any guarded 32-byte secret costs the kernel at
/// least — a three-page mapping, the middle page made writable, locked and
/// sealed, then unmapped.
fn bare_alloc_free() {
    let page = BarePage::new();
    black_box(&page);
}

impl Drop for BarePage {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unreferenced.
        unsafe { libc::munmap(self.map.as_ptr(), 3 * self.len) };
    }
}

fn scopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("scope");
    let bare = BarePage::new();
    group.bench_function("floor: two bare mprotect calls", |b| b.iter(|| bare.open_close()));
    group.bench_function("floor: two bare mprotect calls + one load", |b| {
        b.iter(|| bare.open_read_close());
    });

    if let Some(keyed) = BareKeyPage::new() {
        group.bench_function("floor: bare WRPKRU pair + one load", |b| {
            b.iter(|| keyed.open_read_close());
        });
    } else {
        eprintln!("scope bench: PKU floor skipped: no PKU ({})", pku_support());
    }

    let mut backends = vec![("mprotect", Backend::Mprotect)];
    if pku_support().is_available() {
        backends.push(("pku", Backend::Pku));
    } else {
        eprintln!("scope bench: PKU variants skipped: no PKU ({})", pku_support());
    }
    for (name, backend) in backends {
        let mut secret: Protected<[u8; 32]> =
            Protected::init_with_in(Options::new().backend(backend), |s: &mut [u8; 32]| s.fill(1))
                .unwrap();
        group.bench_function(format!("{name}: read scope"), |b| {
            b.iter(|| black_box(secret.read().unwrap()[0]));
        });
        group.bench_function(format!("{name}: write scope"), |b| {
            b.iter(|| secret.write().unwrap()[0] = black_box(2));
        });
        {
            let outer = secret.read().unwrap();
            group.bench_function(format!("{name}: nested read scope"), |b| {
                b.iter(|| black_box(secret.read().unwrap()[0]));
            });
            drop(outer);
        }
        let pool = siegel::Pool::with_options(Options::new().backend(backend));
        let _neighbours: Vec<Protected<[u8; 32]>> =
            (0..8).map(|_| Protected::<[u8; 32]>::zeroed_in(&pool).unwrap()).collect();
        let mut pooled: Protected<[u8; 32]> =
            Protected::init_with_in(&pool, |s: &mut [u8; 32]| s.fill(1)).unwrap();
        group.bench_function(format!("{name}: pooled read scope"), |b| {
            b.iter(|| black_box(pooled.read().unwrap()[0]));
        });
        group.bench_function(format!("{name}: pooled write scope"), |b| {
            b.iter(|| pooled.write().unwrap()[0] = black_box(2));
        });
    }
    group.finish();
}

fn setup(c: &mut Criterion) {
    let mut group = c.benchmark_group("region");
    group.bench_function("floor: bare mmap + mprotect + mlock + munmap", |b| {
        b.iter(bare_alloc_free);
    });
    group.bench_function("mprotect: create + drop 32 B", |b| {
        let options = Options::new().backend(Backend::Mprotect);
        b.iter(|| black_box(Protected::<[u8; 32]>::zeroed_in(options).unwrap()));
    });
    group.bench_function("mprotect: pooled alloc + free 32 B", |b| {
        let pool = siegel::Pool::with_options(Options::new().backend(Backend::Mprotect));
        let _warm = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
        b.iter(|| black_box(Protected::<[u8; 32]>::zeroed_in(&pool).unwrap()));
    });
    // With the secret written (a write scope), so that the free must wipe it.
    group.bench_function("mprotect: pooled alloc + write + free 32 B", |b| {
        let pool = siegel::Pool::with_options(Options::new().backend(Backend::Mprotect));
        let _warm = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
        b.iter(|| black_box(Protected::init_with_in(&pool, |s: &mut [u8; 32]| s[0] = 1).unwrap()));
    });
    group.bench_function("mprotect: create + write + drop 32 B", |b| {
        let options = Options::new().backend(Backend::Mprotect);
        b.iter(|| {
            black_box(Protected::init_with_in(options, |s: &mut [u8; 32]| s[0] = 1).unwrap())
        });
    });
    if pku_support().is_available() {
        group.bench_function("pku: create + drop 32 B", |b| {
            let options = Options::new().backend(Backend::Pku);
            b.iter(|| black_box(Protected::<[u8; 32]>::zeroed_in(options).unwrap()));
        });
        group.bench_function("pku: pooled alloc + free 32 B", |b| {
            let pool = siegel::Pool::with_options(Options::new().backend(Backend::Pku));
            let _warm = Protected::<[u8; 32]>::zeroed_in(&pool).unwrap();
            b.iter(|| black_box(Protected::<[u8; 32]>::zeroed_in(&pool).unwrap()));
        });
    }
    group.finish();
}

criterion_group!(benches, scopes, setup);
criterion_main!(benches);
