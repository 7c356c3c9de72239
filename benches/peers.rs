//! siegel side by side with the floor and with the crates a user would pick instead,
//! all in one run:
//!
//! * access scopes — read, write and nested read — on a 32-byte secret;
//! * allocation + free of 32 B, 4 KiB and 1 MiB secrets;
//! * read scopes on two threads at once, each on a region of its own (page
//!   protection makes every `mprotect` flush the other core's TLB; protection keys
//!   change only this thread's PKRU register);
//!
//! against the floor (bare `mprotect` pairs on a locked, guard-framed page; for
//! allocation a bare `mmap` + `mprotect` + `mlock` + `munmap`) and against
//! `secrets` (libsodium's guarded allocator behind a `RefCell`-like borrow API),
//! `memsec` (a Rust port of libsodium's allocator), libsodium itself
//! (`sodium_malloc` and `sodium_mprotect_*`, linked through `secrets`'s build script)
//! and `region`'s `ProtectGuard` (which reads `/proc/self/maps` to restore the old
//! protection on drop). The PKU variants run only where the machine has PKU.
//!
//! `cargo bench --features peers --bench peers && python3 benches/report.py` writes the table and
//! chart in BENCHMARKS.md. Runs in about three minutes on two cores.

#![allow(clippy::unwrap_used, reason = "a bench fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "the floor and the C-style peers are raw pointer APIs")]
#![allow(missing_docs, reason = "criterion's macros generate undocumented items")]

use std::{
    ffi::{c_int, c_void},
    hint::black_box,
    ptr::NonNull,
    sync::{Barrier, Once},
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use siegel::{pku_support, Backend, Options, Pool, Protected};

/// The secret every scope bench opens: small, so one data page.
type Key = [u8; 32];

/// Sizes for allocation + free, with the labels used in the group names.
const SIZES: [(usize, &str); 3] = [(32, "32 B"), (4096, "4 KiB"), (1 << 20, "1 MiB")];

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap()
}

/// The floor: the kernel work every page-protection scope has to do, and nothing else.
mod floor {
    use super::{black_box, page_size, NonNull};

    /// `[guard][data pages][guard]`, data `mlock`ed and `PROT_NONE` at rest: the
    /// same shape as a siegel region, minus canary, madvise flags and bookkeeping.
    pub(crate) struct BareRegion {
        map: NonNull<libc::c_void>,
        data: *mut libc::c_void,
        data_len: usize,
        map_len: usize,
    }

    impl BareRegion {
        pub(crate) fn new(len: usize) -> Self {
            let page = page_size();
            let data_len = len.div_ceil(page) * page;
            let map_len = data_len + 2 * page;
            // SAFETY: a fresh anonymous mapping chosen by the kernel replaces nothing.
            let map = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    map_len,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(map, libc::MAP_FAILED);
            let data = map.cast::<u8>().wrapping_add(page).cast::<libc::c_void>();
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            // SAFETY: the data pages of our own mapping; nothing references them.
            assert_eq!(unsafe { libc::mprotect(data, data_len, rw) }, 0);
            // SAFETY: as above; locking changes no contents.
            assert_eq!(unsafe { libc::mlock(data, data_len) }, 0);
            // SAFETY: as above.
            assert_eq!(unsafe { libc::mprotect(data, data_len, libc::PROT_NONE) }, 0);
            Self { map: NonNull::new(map).unwrap(), data, data_len, map_len }
        }

        /// Open with `prot`, close again: two `mprotect` calls.
        pub(crate) fn open_close(&self, prot: libc::c_int) {
            // SAFETY: our own pages; nothing references them.
            black_box(unsafe { libc::mprotect(self.data, self.data_len, prot) });
            // SAFETY: as above.
            black_box(unsafe { libc::mprotect(self.data, self.data_len, libc::PROT_NONE) });
        }
    }

    impl Drop for BareRegion {
        fn drop(&mut self) {
            // SAFETY: our own mapping, unreferenced.
            unsafe { libc::munmap(self.map.as_ptr(), self.map_len) };
        }
    }
}

/// libsodium's guarded allocator, called directly. `secrets` links libsodium
/// (its build script asks pkg-config), so the symbols resolve without
/// `libsodium-sys-stable`, whose build dependencies (an HTTP client, zip, tar)
/// would add about 35 s to every fresh `cargo test`.
mod sodium {
    use super::{c_int, c_void};

    #[link(name = "sodium")]
    unsafe extern "C" {
        pub(crate) fn sodium_init() -> c_int;
        pub(crate) fn sodium_malloc(size: usize) -> *mut c_void;
        pub(crate) fn sodium_free(ptr: *mut c_void);
        pub(crate) fn sodium_mprotect_noaccess(ptr: *mut c_void) -> c_int;
        pub(crate) fn sodium_mprotect_readonly(ptr: *mut c_void) -> c_int;
        pub(crate) fn sodium_mprotect_readwrite(ptr: *mut c_void) -> c_int;
    }

    /// A `sodium_malloc` allocation, sealed with `sodium_mprotect_noaccess`.
    pub(crate) struct Sealed(*mut c_void);

    impl Sealed {
        pub(crate) fn new(len: usize) -> Self {
            // SAFETY: sodium_init may be called any number of times, from any thread.
            assert!(unsafe { sodium_init() } >= 0);
            // SAFETY: no preconditions; a null return is checked.
            let ptr = unsafe { sodium_malloc(len) };
            assert!(!ptr.is_null());
            // SAFETY: a live sodium_malloc allocation.
            assert_eq!(unsafe { sodium_mprotect_noaccess(ptr) }, 0);
            Self(ptr)
        }

        pub(crate) fn read_scope(&self) -> u8 {
            // SAFETY: a live sodium_malloc allocation.
            assert_eq!(unsafe { sodium_mprotect_readonly(self.0) }, 0);
            // SAFETY: readable now; at least one byte long.
            let byte = unsafe { self.0.cast::<u8>().read_volatile() };
            // SAFETY: a live sodium_malloc allocation.
            assert_eq!(unsafe { sodium_mprotect_noaccess(self.0) }, 0);
            byte
        }

        pub(crate) fn write_scope(&mut self, byte: u8) {
            // SAFETY: a live sodium_malloc allocation.
            assert_eq!(unsafe { sodium_mprotect_readwrite(self.0) }, 0);
            // SAFETY: writable now; at least one byte long; `&mut self` is exclusive.
            unsafe { self.0.cast::<u8>().write_volatile(byte) };
            // SAFETY: a live sodium_malloc allocation.
            assert_eq!(unsafe { sodium_mprotect_noaccess(self.0) }, 0);
        }
    }

    impl Drop for Sealed {
        fn drop(&mut self) {
            // SAFETY: a live sodium_malloc allocation, freed once (it unlocks,
            // wipes and unmaps whatever the protection).
            unsafe { sodium_free(self.0) };
        }
    }
}

/// memsec's libsodium-style allocator, sealed with `memsec::mprotect`.
struct MemsecSealed(NonNull<[u8]>);

impl MemsecSealed {
    fn new(len: usize) -> Self {
        // SAFETY: no preconditions; `None` is checked.
        let ptr = unsafe { memsec::malloc_sized(len) }.unwrap();
        // SAFETY: a live memsec allocation.
        assert!(unsafe { memsec::mprotect(ptr, memsec::Prot::NoAccess) });
        Self(ptr)
    }

    fn read_scope(&self) -> u8 {
        // SAFETY: a live memsec allocation.
        assert!(unsafe { memsec::mprotect(self.0, memsec::Prot::ReadOnly) });
        // SAFETY: readable now; at least one byte long.
        let byte = unsafe { self.0.cast::<u8>().read_volatile() };
        // SAFETY: a live memsec allocation.
        assert!(unsafe { memsec::mprotect(self.0, memsec::Prot::NoAccess) });
        byte
    }

    fn write_scope(&mut self, byte: u8) {
        // SAFETY: a live memsec allocation.
        assert!(unsafe { memsec::mprotect(self.0, memsec::Prot::ReadWrite) });
        // SAFETY: writable now; at least one byte long; `&mut self` is exclusive.
        unsafe { self.0.cast::<u8>().write_volatile(byte) };
        // SAFETY: a live memsec allocation.
        assert!(unsafe { memsec::mprotect(self.0, memsec::Prot::NoAccess) });
    }
}

impl Drop for MemsecSealed {
    fn drop(&mut self) {
        // SAFETY: a live memsec allocation; `free` writes the header and canary
        // page itself, so the data pages must be accessible first.
        assert!(unsafe { memsec::mprotect(self.0, memsec::Prot::ReadWrite) });
        // SAFETY: a live memsec allocation, freed once.
        unsafe { memsec::free(self.0) };
    }
}

/// A `region` allocation (no guard pages, no lock) at `PROT_NONE`, opened with
/// `region::protect_with_handle`, whose guard restores the old protection on drop.
struct RegionSealed(region::Allocation);

impl RegionSealed {
    fn new(len: usize) -> Self {
        Self(region::alloc(len, region::Protection::NONE).unwrap())
    }

    fn read_scope(&self) -> u8 {
        let ptr = self.0.as_ptr::<u8>();
        // SAFETY: our own allocation; nothing else references it.
        let guard =
            unsafe { region::protect_with_handle(ptr, 1, region::Protection::READ) }.unwrap();
        // SAFETY: readable while `guard` lives; at least one byte long.
        let byte = unsafe { ptr.read_volatile() };
        drop(guard);
        byte
    }

    fn write_scope(&mut self, byte: u8) {
        let ptr = self.0.as_mut_ptr::<u8>();
        // SAFETY: our own allocation; nothing else references it.
        let guard =
            unsafe { region::protect_with_handle(ptr, 1, region::Protection::READ_WRITE) }.unwrap();
        // SAFETY: writable while `guard` lives; `&mut self` is exclusive.
        unsafe { ptr.write_volatile(byte) };
        drop(guard);
    }
}

/// The siegel backends this machine can run, with the names used in bench ids.
fn siegel_backends() -> Vec<(&'static str, Backend)> {
    static SKIP_NOTE: Once = Once::new();
    let mut backends = vec![("siegel mprotect", Backend::Mprotect)];
    if pku_support().is_available() {
        backends.push(("siegel pku", Backend::Pku));
    } else {
        SKIP_NOTE.call_once(|| eprintln!("peers bench: siegel pku skipped: {}", pku_support()));
    }
    backends
}

fn siegel_key(backend: Backend) -> Protected<Key> {
    Protected::init_with_in(Options::new().backend(backend), |k: &mut Key| k.fill(1)).unwrap()
}

fn read_scopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("read scope");
    let bare = floor::BareRegion::new(32);
    group.bench_function("floor", |b| b.iter(|| bare.open_close(libc::PROT_READ)));
    for (name, backend) in siegel_backends() {
        let key = siegel_key(backend);
        group.bench_function(name, |b| b.iter(|| black_box(key.read().unwrap()[0])));
    }
    let secret = secrets::SecretBox::<Key>::zero();
    group.bench_function("secrets", |b| b.iter(|| black_box(secret.borrow()[0])));
    let memsec = MemsecSealed::new(32);
    group.bench_function("memsec", |b| b.iter(|| black_box(memsec.read_scope())));
    let sodium = sodium::Sealed::new(32);
    group.bench_function("libsodium", |b| b.iter(|| black_box(sodium.read_scope())));
    let region = RegionSealed::new(32);
    group.bench_function("region", |b| b.iter(|| black_box(region.read_scope())));
    group.finish();
}

fn write_scopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("write scope");
    let bare = floor::BareRegion::new(32);
    group.bench_function("floor", |b| {
        b.iter(|| bare.open_close(libc::PROT_READ | libc::PROT_WRITE));
    });
    for (name, backend) in siegel_backends() {
        let mut key = siegel_key(backend);
        group.bench_function(name, |b| b.iter(|| key.write().unwrap()[0] = black_box(2)));
    }
    let mut secret = secrets::SecretBox::<Key>::zero();
    group.bench_function("secrets", |b| b.iter(|| secret.borrow_mut()[0] = black_box(2)));
    let mut memsec = MemsecSealed::new(32);
    group.bench_function("memsec", |b| b.iter(|| memsec.write_scope(black_box(2))));
    let mut sodium = sodium::Sealed::new(32);
    group.bench_function("libsodium", |b| b.iter(|| sodium.write_scope(black_box(2))));
    let mut region = RegionSealed::new(32);
    group.bench_function("region", |b| b.iter(|| region.write_scope(black_box(2))));
    group.finish();
}

/// A read scope opened while another read scope on the same secret is open.
/// memsec and libsodium have no notion of nesting (a second `mprotect` pair would
/// seal the outer scope's pages under it), so they are not in this group.
fn nested_scopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("nested read scope");
    let bare = floor::BareRegion::new(32);
    group.bench_function("floor", |b| b.iter(|| bare.open_close(libc::PROT_READ)));
    for (name, backend) in siegel_backends() {
        let key = siegel_key(backend);
        let outer = key.read().unwrap();
        group.bench_function(name, |b| b.iter(|| black_box(key.read().unwrap()[0])));
        drop(outer);
    }
    let secret = secrets::SecretBox::<Key>::zero();
    let outer = secret.borrow();
    group.bench_function("secrets", |b| b.iter(|| black_box(secret.borrow()[0])));
    drop(outer);
    let region = RegionSealed::new(32);
    let ptr = region.0.as_ptr::<u8>();
    // SAFETY: our own allocation; nothing else references it.
    let outer = unsafe { region::protect_with_handle(ptr, 1, region::Protection::READ) }.unwrap();
    group.bench_function("region", |b| b.iter(|| black_box(region.read_scope())));
    drop(outer);
    group.finish();
}

/// The floor of allocation: map `[guard][data][guard]`, open and lock the data
/// pages, unmap. No canary, no madvise, no wipe.
fn bare_alloc_free(len: usize) {
    drop(black_box(floor::BareRegion::new(len)));
}

fn alloc_free(c: &mut Criterion) {
    for (len, label) in SIZES {
        let mut group = c.benchmark_group(format!("alloc+free {label}"));
        if len >= 1 << 20 {
            group.sample_size(20);
        }
        group.bench_function("floor", |b| b.iter(|| bare_alloc_free(black_box(len))));
        for (name, backend) in siegel_backends() {
            let options = Options::new().backend(backend);
            group.bench_function(name, |b| {
                b.iter(|| {
                    drop(black_box(
                        Protected::<[u8]>::zeroed_slice_in(options, black_box(len)).unwrap(),
                    ));
                });
            });
        }
        // Pooled allocation: take from and return to a warm pool. Sizes above a
        // pool slot (2032 bytes) get a dedicated region, so only 32 B is pooled.
        if len <= 2032 {
            for (name, backend) in siegel_backends() {
                let pool = Pool::with_options(Options::new().backend(backend));
                let warm = Protected::<[u8]>::zeroed_slice_in(&pool, len).unwrap();
                group.bench_function(format!("{name} pooled"), |b| {
                    b.iter(|| {
                        drop(black_box(
                            Protected::<[u8]>::zeroed_slice_in(&pool, black_box(len)).unwrap(),
                        ));
                    });
                });
                drop(warm);
            }
        }
        group.bench_function("secrets", |b| {
            b.iter(|| drop(black_box(secrets::SecretVec::<u8>::zero(black_box(len)))));
        });
        group.bench_function("memsec", |b| {
            b.iter(|| drop(black_box(MemsecSealed::new(black_box(len)))));
        });
        group.bench_function("libsodium", |b| {
            b.iter(|| drop(black_box(sodium::Sealed::new(black_box(len)))));
        });
        group.bench_function("region", |b| {
            b.iter(|| {
                let alloc = region::alloc(black_box(len), region::Protection::READ_WRITE).unwrap();
                let lock = region::lock(alloc.as_ptr::<u8>(), len).unwrap();
                drop(black_box(lock));
                drop(black_box(alloc));
            });
        });
        group.finish();
    }
}

/// Runs `iters` scopes on each of two threads at once, each thread on a secret
/// it made itself (outside the timed part); returns the slower thread's time.
fn two_threads<S>(iters: u64, make: impl Fn() -> S + Sync, scope: impl Fn(&S) + Sync) -> Duration {
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        let run = || {
            let secret = make();
            start.wait();
            let t0 = Instant::now();
            for _ in 0..iters {
                scope(&secret);
            }
            t0.elapsed()
        };
        let other = s.spawn(run);
        let mine = run();
        mine.max(other.join().unwrap())
    })
}

fn bench_two_threads<S>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    make: impl Fn() -> S + Sync,
    scope: impl Fn(&S) + Sync,
) {
    group.bench_function(name, |b| b.iter_custom(|iters| two_threads(iters, &make, &scope)));
}

fn threaded_scopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("read scope, 2 threads");
    bench_two_threads(
        &mut group,
        "floor",
        || floor::BareRegion::new(32),
        |bare| bare.open_close(libc::PROT_READ),
    );
    for (name, backend) in siegel_backends() {
        bench_two_threads(
            &mut group,
            name,
            || siegel_key(backend),
            |key| {
                black_box(key.read().unwrap()[0]);
            },
        );
    }
    bench_two_threads(&mut group, "secrets", secrets::SecretBox::<Key>::zero, |secret| {
        black_box(secret.borrow()[0]);
    });
    bench_two_threads(
        &mut group,
        "memsec",
        || MemsecSealed::new(32),
        |m| {
            black_box(m.read_scope());
        },
    );
    bench_two_threads(
        &mut group,
        "libsodium",
        || sodium::Sealed::new(32),
        |s| {
            black_box(s.read_scope());
        },
    );
    bench_two_threads(
        &mut group,
        "region",
        || RegionSealed::new(32),
        |r| {
            black_box(r.read_scope());
        },
    );
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(40)
}

criterion_group! {
    name = peers;
    config = config();
    targets = read_scopes, write_scopes, nested_scopes, alloc_free, threaded_scopes
}
criterion_main!(peers);
