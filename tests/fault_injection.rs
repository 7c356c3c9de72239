//! Every failure point survived: each workload runs once to count its system
//! calls per kind, then once per failure point — call k (k = 1..N) of kind X
//! failing with each errno X can really return ([`Call::errnos`]) — and after
//! every step the sweep checks what siegel promises when the kernel says no:
//!
//! - the error is the documented variant, carrying the injected errno;
//! - every secret made before is still readable with its value; only a secret
//!   whose own operation failed (or, in a pool, one on the same page) may be
//!   poisoned — and then it is unreadable, never stale;
//! - no region is left open: outside a scope no page of a secret is readable
//!   (a non-faulting probe, `write(pipe, addr, 1)`);
//! - after the workload drops everything, the mappings (`/proc/self/maps`) and
//!   locked memory (`VmLck`) are back at the baseline;
//! - the process does not die.
//!
//! Each workload runs in a child process (a re-run of this binary filtered to
//! its test), so that `/proc/self/maps` and `VmLck` see only its own regions and
//! `lockdown()` reaches only its own secrets. The child prints one line per
//! failure point; if it dies, the parent records the death against the point
//! that was running and starts a new child at the next one.
//!
//! Run: `cargo test --features fault-injection --test fault_injection -- --nocapture`
//! (the summary of each sweep goes to standard error).

#![cfg(feature = "fault-injection")]
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(clippy::too_many_lines, reason = "a workload reads best as one sequence of steps")]
#![allow(clippy::type_complexity, reason = "the worker channel's job type, named once")]
#![allow(clippy::as_conversions, reason = "unsizing a boxed closure to `dyn FnOnce`")]

mod support;

use std::{
    fmt::Write as _,
    io::Write as _,
    os::unix::process::ExitStatusExt as _,
    sync::{mpsc, Arc, Barrier, Mutex},
};

use siegel::{
    __fault_injection::{paused, Call, FailPoint, Injector},
    lockdown, Backend, Error, Memory, MemoryPolicy, MlockPolicy, Options, Pool, Protected,
    ReadOnly, Revocation, TransitionError,
};
use support::{is_child, maps_in, pku_available, read_own_memory, readable_here, vm_lck_kb};

// ---------------------------------------------------------------------------
// The context a workload runs in.

/// One run of a workload: the injector armed on its threads, and what went
/// wrong.
struct Ctx {
    inj: Injector,
    backend: Backend,
    violations: Mutex<Vec<String>>,
}

/// A secret of the workload with the bytes it must hold.
struct Tracked {
    name: String,
    handle: Protected<[u8]>,
    value: Vec<u8>,
    /// An operation on this secret (or, in a pool, on its page) failed: it may
    /// be poisoned, never stale.
    may_poison: bool,
}

impl Ctx {
    fn violation(&self, msg: String) {
        self.violations.lock().unwrap().push(msg);
    }

    fn opts(&self) -> Options {
        Options::new().backend(self.backend)
    }

    /// Runs one step of the workload. An error must come from the injected
    /// failure, during this step, as the documented variant with the injected
    /// errno; a later `Poisoned` is handed back for the caller to judge.
    /// Returns the result and whether the injection fired during the step.
    fn step<T>(
        &self,
        what: &str,
        op: impl FnOnce() -> Result<T, Error>,
    ) -> (Result<T, Error>, bool) {
        let before = self.inj.hits();
        let result = op();
        let fired = self.inj.hits() > before;
        if let Err(err) = &result {
            self.judge(what, err, fired);
        }
        (result, fired)
    }

    /// As [`step`](Self::step) for a transition, which hands the handle back.
    fn transition<T, H>(
        &self,
        what: &str,
        op: impl FnOnce() -> Result<T, TransitionError<H>>,
    ) -> (Result<T, (Error, H)>, bool) {
        let before = self.inj.hits();
        let result = op().map_err(TransitionError::into_parts);
        let fired = self.inj.hits() > before;
        if let Err((err, _)) = &result {
            self.judge(what, err, fired);
        }
        (result, fired)
    }

    fn judge(&self, what: &str, err: &Error, fired: bool) {
        if let Some(v) = judge(&self.inj, what, err, fired) {
            self.violation(v);
        }
    }

    /// Checks every secret: value, poisoning, and that it is sealed.
    fn verify(&self, when: &str, secrets: &[Tracked]) {
        paused(|| {
            for t in secrets {
                self.verify_one(when, t);
            }
        });
    }

    fn verify_one(&self, when: &str, t: &Tracked) {
        let name = &t.name;
        if t.handle.info().poisoned {
            if !t.may_poison {
                self.violation(format!(
                    "after {when}: {name} was poisoned though no operation on it failed"
                ));
            }
            match t.handle.read() {
                Err(Error::Poisoned) => {}
                Ok(_) => self.violation(format!("after {when}: {name} poisoned but readable")),
                Err(e) => self.violation(format!("after {when}: {name} poisoned, read gave {e:?}")),
            }
        } else {
            match t.handle.read() {
                Ok(g) if *g == t.value[..] => {}
                Ok(g) => self.violation(format!(
                    "after {when}: {name} holds a wrong value (first bytes {:?}, want {:?})",
                    &g[..g.len().min(4)],
                    &t.value[..t.value.len().min(4)]
                )),
                Err(e) => self.violation(format!("after {when}: {name} unreadable: {e:?}")),
            }
        }
        self.sealed(when, name, &t.handle.info().secret);
    }

    /// No byte of `secret` is readable outside a scope (from this thread) —
    /// unless the secret is gone: a page that a lasting failure keeps from
    /// being re-sealed may stay readable once wiped, holding zeros only.
    fn sealed(&self, when: &str, name: &str, secret: &core::ops::Range<usize>) {
        let page = page_size();
        let first = secret.start;
        let last = secret.end - 1;
        // Read in place (it is readable: secret memory refuses /proc/self/mem).
        let wiped = || {
            (first..secret.end).all(|addr| {
                if addr % page == 0 && !readable_here(addr) {
                    return false;
                }
                let byte: *const u8 = core::ptr::with_exposed_provenance(addr);
                // SAFETY: `addr` lies in a page `readable_here` found readable
                // (the first by the caller, each later one just above), inside
                // the secret's mapping, which lives while the handle does.
                let value = unsafe { core::ptr::read_volatile(byte) };
                value == 0
            })
        };
        for addr in [first, last, first / page * page] {
            if readable_here(addr) && !wiped() {
                self.violation(format!(
                    "after {when}: {name} readable outside a scope at {addr:#x} ({:?})",
                    maps_in(addr..addr + 1)
                ));
                return;
            }
        }
    }

    /// Creates a tracked secret of `len` bytes with `opts` (or in `pool`).
    fn create(
        &self,
        name: &str,
        len: usize,
        opts: Options,
        pool: Option<&Pool>,
        secrets: &mut Vec<Tracked>,
    ) -> bool {
        let value = pattern(name, len);
        let init = |s: &mut [u8]| s.copy_from_slice(&value);
        let (made, fired) = self.step(&format!("create {name}"), || match pool {
            Some(pool) => Protected::init_slice_with_in(pool, len, init),
            None => Protected::init_slice_with_in(opts, len, init),
        });
        match made {
            Ok(handle) => {
                // The failure hit this secret's own creation (say, the re-seal
                // after its initial write): it may be poisoned.
                secrets.push(Tracked { name: name.to_owned(), handle, value, may_poison: false });
                if fired {
                    let last = secrets.len() - 1;
                    may_poison(secrets, last);
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// What is wrong with `err` from step `what` (`fired`: the injection fired
/// during the step), if anything.
fn judge(inj: &Injector, what: &str, err: &Error, fired: bool) -> Option<String> {
    if fired {
        let point = inj.target().expect("fired implies a target");
        (!explains(point, err))
            .then(|| format!("{what}: wrong error for {point:?}: {err:?} ({err})"))
    } else if !matches!(err, Error::Poisoned) || !inj.fired() {
        Some(format!("{what}: error not caused by the injected failure: {err:?}"))
    } else {
        None
    }
}

/// Threads that live as long as the process, so that a workload's threads do
/// not change the process's mappings from one run to the next (glibc caches
/// stacks and malloc arenas only loosely).
fn on_workers(jobs: Vec<Box<dyn FnOnce() + Send>>) {
    type Job = Box<dyn FnOnce() + Send>;
    static WORKERS: Mutex<Vec<mpsc::Sender<(Job, mpsc::Sender<()>)>>> = Mutex::new(Vec::new());
    let mut workers = WORKERS.lock().unwrap();
    while workers.len() < jobs.len() {
        let (tx, rx) = mpsc::channel::<(Job, mpsc::Sender<()>)>();
        std::thread::spawn(move || {
            for (job, done) in rx {
                job();
                let _ = done.send(());
            }
        });
        workers.push(tx);
    }
    let (done_tx, done_rx) = mpsc::channel();
    let n = jobs.len();
    for (worker, job) in workers.iter().zip(jobs) {
        worker.send((job, done_tx.clone())).unwrap();
    }
    for _ in 0..n {
        done_rx.recv().unwrap();
    }
}

/// Whether `err` is the documented variant for the failure `point`, carrying
/// its errno.
fn explains(point: FailPoint, err: &Error) -> bool {
    use std::error::Error as _;
    let errno = point.errno;
    let carries = err
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|s| s.raw_os_error() == Some(errno));
    let out_of_mappings =
        errno == libc::ENOMEM || (point.call == Call::Madvise && errno == libc::EAGAIN);
    let protect_call = match point.call {
        Call::Mprotect => "mprotect",
        Call::PkeyMprotect => "pkey_mprotect",
        Call::Madvise => "madvise",
        Call::PkeyAlloc => "pkey_alloc",
        _ => "",
    };
    carries
        && match err {
            Error::Map { len, .. } => match point.call {
                Call::Mmap => *len > 0,
                Call::Mprotect | Call::PkeyMprotect | Call::Madvise => *len == 0 && out_of_mappings,
                _ => false,
            },
            Error::Protect { call, .. } => *call == protect_call && !out_of_mappings,
            Error::MemoryLock { .. } => point.call == Call::Mlock,
            Error::SecretMemory { .. } => {
                matches!(point.call, Call::MemfdSecret | Call::Ftruncate | Call::MmapFixed)
            }
            Error::Random { .. } => point.call == Call::Getrandom,
            _ => false,
        }
        || (point.call == Call::PkeyAlloc
            && errno == libc::ENOSPC
            && matches!(err, Error::KeysExhausted))
        // A revocation round that could not reach a thread (protection keys):
        // the cause names the call that failed.
        || match err {
            Error::Revocation(cause) => {
                let os = |source: &std::io::Error| source.raw_os_error() == Some(errno);
                match (point.call, cause) {
                    (Call::Tgkill, Revocation::SignalQueueFull { .. }) => errno == libc::EAGAIN,
                    (Call::Tgkill, Revocation::Tgkill { source, .. })
                    | (Call::ThreadIds, Revocation::ThreadList { source })
                    | (Call::Sigaction, Revocation::Handler { source }) => os(source),
                    (Call::SigactionQuery, Revocation::SignalTaken { .. }) => true,
                    _ => false,
                }
            }
            _ => false,
        }
        // A refused re-seal wipes and poisons its region, and the workload's
        // threads share one failure counter: the step that saw the failure
        // fire may be another thread's open of that region, which answers
        // `Poisoned` (found in the VM, where the threads interleave more).
        || (matches!(point.call, Call::Mprotect | Call::PkeyMprotect)
            && matches!(err, Error::Poisoned))
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap()
}

/// A value for secret `name`: no zero bytes, different per name and length.
fn pattern(name: &str, len: usize) -> Vec<u8> {
    let seed = name.bytes().fold(len, |a, b| a.wrapping_mul(31).wrapping_add(usize::from(b)));
    (0..len).map(|i| u8::try_from((seed + i * 7) % 251).unwrap() + 1).collect()
}

/// Marks every secret on the page of `secret` (pools share pages) as one that
/// may be poisoned, or just `secret` for a dedicated region.
fn may_poison(secrets: &mut [Tracked], index: usize) {
    let page = page_size();
    let target = secrets[index].handle.info();
    let pooled = secrets[index].handle.info().pooled;
    for t in secrets.iter_mut() {
        let info = t.handle.info();
        let same = if pooled {
            t.handle.info().pooled && info.secret.start / page == target.secret.start / page
        } else {
            info.secret.start == target.secret.start
        };
        if same {
            t.may_poison = true;
        }
    }
}

// ---------------------------------------------------------------------------
// Workloads.

type Workload = fn(&Ctx);

/// Dedicated regions of several sizes and memory policies, made and dropped.
fn dedicated(ctx: &Ctx) {
    let page = page_size();
    let mut secrets = Vec::new();
    let kinds: [(usize, MemoryPolicy, MlockPolicy); 6] = [
        (1, MemoryPolicy::Anonymous, MlockPolicy::Required),
        (32, MemoryPolicy::Anonymous, MlockPolicy::Required),
        (page - 16, MemoryPolicy::PreferSecret, MlockPolicy::Required),
        (page - 15, MemoryPolicy::RequireSecret, MlockPolicy::Required),
        (3 * page + 5, MemoryPolicy::Anonymous, MlockPolicy::BestEffort),
        (100, MemoryPolicy::PreferSecret, MlockPolicy::BestEffort),
    ];
    for (i, (len, memory, mlock)) in kinds.into_iter().enumerate() {
        let name = format!("d{i}-{len}-{memory:?}-{mlock:?}");
        let before = ctx.inj.hits();
        let made =
            ctx.create(&name, len, ctx.opts().memory(memory).mlock(mlock), None, &mut secrets);
        if made {
            let t = secrets.last().unwrap();
            let fired = ctx.inj.hits() > before;
            // A documented degradation is allowed only when a call failed.
            let want_secret = memory != MemoryPolicy::Anonymous;
            if want_secret && t.handle.info().memory != Memory::Secret && !fired {
                ctx.violation(format!("{name}: anonymous memory though memfd_secret works"));
            }
            if memory == MemoryPolicy::RequireSecret && t.handle.info().memory != Memory::Secret {
                ctx.violation(format!("{name}: RequireSecret gave anonymous memory"));
            }
            if !t.handle.info().locked && (mlock == MlockPolicy::Required || !fired) {
                ctx.violation(format!("{name}: not locked"));
            }
        }
        ctx.verify(&format!("create {name}"), &secrets);
    }
    // Drop them in an order other than creation.
    while !secrets.is_empty() {
        let t = secrets.remove(secrets.len() / 2);
        let _ = ctx.step(&format!("drop {}", t.name), || {
            drop(t);
            Ok(())
        });
        ctx.verify("a drop", &secrets);
    }
}

/// Read and write scopes, nested and overlapping, then on several threads.
fn scopes(ctx: &Ctx) {
    let mut secrets = Vec::new();
    for (i, len) in [24, 300, 5000].into_iter().enumerate() {
        ctx.create(&format!("s{i}"), len, ctx.opts(), None, &mut secrets);
    }
    ctx.verify("create", &secrets);
    if secrets.len() < 3 {
        return;
    }
    // Nested reads of s0 and an overlapping read of s1.
    {
        let (outer, fired) = ctx.step("read s0", || secrets[0].handle.read());
        let mut marks = Vec::new();
        if fired {
            marks.push(0);
        }
        if let Ok(outer) = &outer {
            let (inner, fired) = ctx.step("nested read s0", || secrets[0].handle.read());
            if fired {
                marks.push(0);
            }
            if let Ok(inner) = &inner {
                if **inner != secrets[0].value[..] {
                    ctx.violation("nested read s0: wrong value".into());
                }
            }
            let (other, fired) = ctx.step("read s1 inside s0", || secrets[1].handle.read());
            if fired {
                marks.push(1);
            }
            if **outer != secrets[0].value[..] {
                ctx.violation("read s0: wrong value".into());
            }
            let before = ctx.inj.hits();
            drop(inner);
            drop(other);
            if ctx.inj.hits() > before {
                marks.extend([0, 1]);
            }
        }
        let before = ctx.inj.hits();
        drop(outer);
        if ctx.inj.hits() > before {
            marks.push(0);
        }
        for m in marks {
            may_poison(&mut secrets, m);
        }
    }
    ctx.verify("nested reads", &secrets);
    // A write scope on s2.
    let new = pattern("s2-new", secrets[2].value.len());
    let (wrote, fired) =
        ctx.step("write s2", || secrets[2].handle.write().map(|mut s| s.copy_from_slice(&new)));
    if wrote.is_ok() {
        secrets[2].value = new;
    }
    if fired {
        may_poison(&mut secrets, 2);
    }
    ctx.verify("write s2", &secrets);
    // Three threads, each with its own scopes on s0 and s1, overlapping.
    let shared = Arc::new(core::mem::take(&mut secrets));
    let barrier = Arc::new(Barrier::new(3));
    let found = Arc::new(Mutex::new((Vec::<String>::new(), Vec::<usize>::new())));
    let jobs = (0..3)
        .map(|t| {
            let (shared, barrier, found, inj) =
                (Arc::clone(&shared), Arc::clone(&barrier), Arc::clone(&found), ctx.inj.clone());
            Box::new(move || {
                let _armed = inj.arm();
                barrier.wait();
                for round in 0..3 {
                    for (i, s) in shared.iter().enumerate().take(2) {
                        let what = format!("thread {t} round {round} read s{i}");
                        let before = inj.hits();
                        // A panic must not strand the other threads at the barrier.
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            s.handle.read().map(|g| *g == s.value[..])
                        }));
                        let fired = inj.hits() > before;
                        let mut found = found.lock().unwrap();
                        match result {
                            Ok(Ok(true)) => {}
                            Ok(Ok(false)) => {
                                found.0.push(format!("{what}: a guard shows a wrong value"));
                            }
                            Ok(Err(e)) => found.0.extend(judge(&inj, &what, &e, fired)),
                            Err(_) => found.0.push(format!(
                                "{what}: a live guard panicked (its secret was wiped under it)"
                            )),
                        }
                        if fired || inj.fired() && s.handle.info().poisoned {
                            found.1.push(i);
                        }
                    }
                    barrier.wait();
                }
            }) as Box<dyn FnOnce() + Send>
        })
        .collect();
    on_workers(jobs);
    secrets = Arc::try_unwrap(shared).ok().expect("the workers are done");
    let (violations, marks) = core::mem::take(&mut *found.lock().unwrap());
    for v in violations {
        ctx.violation(v);
    }
    for i in marks {
        may_poison(&mut secrets, i);
    }
    ctx.verify("threads", &secrets);
    drop(secrets);
}

/// State transitions and rotation, dedicated and pooled.
fn transitions(ctx: &Ctx) {
    let pool = Pool::with_options(ctx.opts());
    let mut secrets = Vec::new();
    ctx.create("t-dedicated", 40, ctx.opts(), None, &mut secrets);
    ctx.create("t-pooled", 40, ctx.opts(), Some(&pool), &mut secrets);
    ctx.verify("create", &secrets);
    let mut index = 0;
    while index < secrets.len() {
        let t = secrets.remove(index);
        // None: a lasting failure kept the handle from sealing again; it was
        // dropped (its drop wipes it), and the run goes on without it.
        let Some(back) = cycle(ctx, t) else { continue };
        secrets.insert(index, back);
        ctx.verify(&format!("transitions of {}", secrets[index].name), &secrets);
        let t = secrets.remove(index);
        let name = t.name.clone();
        let Tracked { handle, value, may_poison: marked, .. } = t;
        let old_addr = handle.info().secret.start;
        let (rotated, fired) = ctx.transition(&format!("rotate {name}"), || handle.rotate());
        let handle = match rotated {
            Ok(h) => {
                if h.info().secret.start == old_addr {
                    ctx.violation(format!("rotate {name}: same address"));
                }
                h
            }
            Err((_, h)) => h,
        };
        secrets.insert(index, Tracked { name, handle, value, may_poison: marked || fired });
        ctx.verify("rotate", &secrets);
        index += 1;
    }
}

/// `NoAccess → ReadOnly → ReadWrite (write) → ReadOnly → NoAccess`, checking
/// after each failed transition that the handle came back in its old state.
fn cycle(ctx: &Ctx, t: Tracked) -> Option<Tracked> {
    let Tracked { name, handle, mut value, mut may_poison } = t;
    let (ro, fired) = ctx.transition(&format!("{name} into_read_only"), || handle.into_read_only());
    may_poison |= fired;
    let ro = match ro {
        Ok(ro) => ro,
        Err((_, h)) => return Some(Tracked { name, handle: h, value, may_poison }),
    };
    check_open(ctx, &name, &ro, &value, may_poison);
    let (rw, fired) = ctx.transition(&format!("{name} into_read_write"), || ro.into_read_write());
    may_poison |= fired;
    let ro: Protected<[u8], ReadOnly> = match rw {
        Ok(mut rw) => {
            if !rw.info().poisoned {
                value = pattern(&format!("{name}-rw"), value.len());
                paused(|| rw.copy_from_slice(&value));
            }
            let (back, fired) =
                ctx.transition(&format!("{name} rw into_read_only"), || rw.into_read_only());
            may_poison |= fired;
            match back {
                Ok(ro) => ro,
                Err((_, rw)) => {
                    // Still read-write: seal it from there.
                    let (sealed, fired) = ctx.transition(&format!("{name} rw seal"), || rw.seal());
                    may_poison |= fired;
                    return match sealed {
                        Ok(h) => Some(Tracked { name, handle: h, value, may_poison }),
                        Err((_, rw)) => {
                            if !lasting(ctx) {
                                ctx.violation(format!(
                                    "{name}: cannot seal a read-write handle after one failure"
                                ));
                            }
                            drop(rw);
                            replacement(ctx, name, value.len(), may_poison)
                        }
                    };
                }
            }
        }
        Err((_, ro)) => ro,
    };
    check_open(ctx, &name, &ro, &value, may_poison);
    let (sealed, fired) = ctx.transition(&format!("{name} seal"), || ro.seal());
    may_poison |= fired;
    match sealed {
        Ok(h) => Some(Tracked { name, handle: h, value, may_poison }),
        Err((_, ro)) => {
            check_open(ctx, &name, &ro, &value, may_poison);
            // One failure per run: the second try must work (unless the
            // failure lasts).
            let (sealed, _) = ctx.transition(&format!("{name} seal again"), || ro.seal());
            match sealed {
                Ok(h) => Some(Tracked { name, handle: h, value, may_poison }),
                Err((e, ro)) => {
                    if !lasting(ctx) {
                        ctx.violation(format!("{name}: seal failed twice: {e:?}"));
                    }
                    drop(ro);
                    replacement(ctx, name, value.len(), may_poison)
                }
            }
        }
    }
}

/// Whether the injected failure lasts (every call of its kind from the k-th on).
fn lasting(ctx: &Ctx) -> bool {
    ctx.inj.target().is_some_and(|p| p.persistent)
}

/// A fresh zeroed secret to go on with after one that could not be sealed was
/// dropped; none if a lasting failure prevents that too.
fn replacement(ctx: &Ctx, name: String, len: usize, may_poison: bool) -> Option<Tracked> {
    let (h, _) = ctx.step("replacement", || Protected::zeroed_slice_in(ctx.opts(), len));
    match h {
        Ok(handle) => Some(Tracked { name, handle, value: vec![0; len], may_poison }),
        Err(_) if lasting(ctx) => None,
        Err(e) => panic!("replacement: {e}"),
    }
}

/// An open (`ReadOnly`) handle: readable in place with its value.
fn check_open(
    ctx: &Ctx,
    name: &str,
    h: &Protected<[u8], ReadOnly>,
    value: &[u8],
    may_poison: bool,
) {
    paused(|| {
        if h.info().poisoned {
            if !may_poison {
                ctx.violation(format!("{name}: read-only handle poisoned"));
            }
            return;
        }
        if !readable_here(h.info().secret.start) {
            ctx.violation(format!("{name}: read-only handle not readable"));
        } else if h[..] != *value {
            ctx.violation(format!("{name}: read-only handle holds a wrong value"));
        }
    });
}

/// Pool alloc and free across arena growth (31 slots of the 2048-byte class
/// per arena), with a second class beside them, frees and reuse.
fn pool(ctx: &Ctx) {
    let pool = Pool::with_options(ctx.opts());
    let mut secrets = Vec::new();
    for i in 0..34 {
        ctx.create(&format!("big{i}"), 2000, ctx.opts(), Some(&pool), &mut secrets);
    }
    // A second class (1024 bytes: 63 slots an arena; the smallest classes
    // would add thousands of identical canary getrandom calls).
    for i in 0..3 {
        ctx.create(&format!("small{i}"), 1000, ctx.opts(), Some(&pool), &mut secrets);
    }
    ctx.verify("allocations", &secrets);
    // Free every third, then allocate into the holes.
    let mut i = 0;
    secrets.retain(|_| {
        i += 1;
        i % 3 != 0
    });
    ctx.verify("frees", &secrets);
    for i in 0..6 {
        ctx.create(&format!("again{i}"), 2000, ctx.opts(), Some(&pool), &mut secrets);
    }
    ctx.verify("reuse", &secrets);
    // A write scope on a few of them.
    for index in [0, 5, secrets.len().saturating_sub(1)] {
        if index >= secrets.len() {
            continue;
        }
        let new = pattern(&format!("{}-new", secrets[index].name), secrets[index].value.len());
        let (wrote, fired) = ctx.step("pool write", || {
            secrets[index].handle.write().map(|mut s| s.copy_from_slice(&new))
        });
        if wrote.is_ok() {
            secrets[index].value = new;
        }
        if fired {
            may_poison(&mut secrets, index);
        }
        ctx.verify("pool write", &secrets);
    }
    drop(pool);
    ctx.verify("pool handle dropped", &secrets);
}

/// `lockdown()` with a scope open: every secret wiped and poisoned, nothing
/// left readable, the open one wiped when its scope closes.
fn lockdown_workload(ctx: &Ctx) {
    let pool = Pool::with_options(ctx.opts());
    let mut secrets = Vec::new();
    ctx.create("l-anon", 64, ctx.opts(), None, &mut secrets);
    ctx.create(
        "l-secretmem",
        64,
        ctx.opts().memory(MemoryPolicy::RequireSecret),
        None,
        &mut secrets,
    );
    ctx.create("l-pooled", 64, ctx.opts(), Some(&pool), &mut secrets);
    ctx.create("l-open", 64, ctx.opts(), None, &mut secrets);
    ctx.verify("create", &secrets);
    let open = secrets.iter().position(|t| t.name == "l-open");
    let guard = open.map(|i| ctx.step("read l-open", || secrets[i].handle.read()).0);
    let report = lockdown();
    let deferred = usize::from(matches!(guard, Some(Ok(_))));
    if report.deferred < deferred {
        ctx.violation(format!("lockdown with a scope open reported {report:?}"));
    }
    drop(guard);
    paused(|| {
        for t in &secrets {
            if !t.handle.info().poisoned {
                ctx.violation(format!("{}: not poisoned by lockdown", t.name));
            }
            if !matches!(t.handle.read(), Err(Error::Poisoned)) {
                ctx.violation(format!("{}: readable after lockdown", t.name));
            }
            let info = t.handle.info();
            ctx.sealed("lockdown", &t.name, &info.secret);
            if let Some(bytes) = peek(&info) {
                if bytes.iter().any(|&b| b != 0) {
                    ctx.violation(format!("{}: not wiped by lockdown", t.name));
                }
            }
        }
    });
}

/// The bytes of a secret, read without opening it: through `/proc/self/mem`,
/// or for `memfd_secret` memory (which `/proc/self/mem` cannot reach) by making
/// its data pages readable for a moment (page protection only).
fn peek(info: &siegel::RegionInfo) -> Option<Vec<u8>> {
    let len = info.secret.len();
    if let Ok(bytes) = read_own_memory(info.secret.start, len) {
        return Some(bytes);
    }
    if info.mechanism != siegel::Mechanism::PageProtection {
        return None;
    }
    let pages = info.data_pages.clone();
    let ptr = core::ptr::with_exposed_provenance_mut::<libc::c_void>(pages.start);
    // SAFETY: the secret's own data pages, sealed; the test reads them and seals
    // them again before anything else runs on this thread's secrets.
    assert_eq!(unsafe { libc::mprotect(ptr, pages.len(), libc::PROT_READ) }, 0);
    // SAFETY: just made readable; `len` bytes of the secret.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            core::ptr::with_exposed_provenance::<u8>(info.secret.start),
            len,
        )
    }
    .to_vec();
    // SAFETY: as above, back to sealed.
    assert_eq!(unsafe { libc::mprotect(ptr, pages.len(), libc::PROT_NONE) }, 0);
    Some(bytes)
}

/// Protection keys the key-virtualisation workload leaves to siegel: a batch
/// (`keys::BATCH_KEYS`, 4) and one more, so that siegel takes a whole batch,
/// then a part of one and finds the kernel exhausted.
const SIEGEL_KEYS: usize = 5;

/// Takes every protection key the kernel has but [`SIEGEL_KEYS`], for the
/// process's life, before siegel takes any (the sweep child's first run): the
/// workload then runs out of keys at its sixth region, not its sixteenth —
/// the same steps (fresh batches and their rounds, exhaustion, steals beside
/// held scopes) without the ten identical allocations before them, each of
/// which lengthened every run of the sweep and added runs of its own (1,006
/// failure points, 105 s in the PKU VM, before). Keys held by other code
/// are a case siegel meets anyway.
fn leave_siegel_keys() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut taken = Vec::new();
        loop {
            // SAFETY: pkey_alloc(flags 0, access disabled) has no
            // preconditions; a failure (no key left) ends the loop.
            let key = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0, 1) };
            if key < 0 {
                break;
            }
            taken.push(key);
        }
        assert!(
            taken.len() > SIEGEL_KEYS,
            "{} protection keys: too few to leave siegel {SIEGEL_KEYS}",
            taken.len()
        );
        for key in taken.drain(..SIEGEL_KEYS) {
            // SAFETY: a key this function allocated, unused.
            assert_eq!(unsafe { libc::syscall(libc::SYS_pkey_free, key) }, 0);
        }
        // The rest stay allocated for the process's life.
    });
}

/// PKU only: more regions than keys, opened in turn (keys move from region to
/// region), with scopes held while new regions steal keys. The kernel's keys
/// but [`SIEGEL_KEYS`] are taken first ([`leave_siegel_keys`]); one region
/// more than those and two more beside three held scopes: three over the
/// keys, enough for every steal, take-back and held-key path (the sweep
/// reports none unreached).
fn keys(ctx: &Ctx) {
    leave_siegel_keys();
    let mut secrets = Vec::new();
    for i in 0..=SIEGEL_KEYS {
        ctx.create(&format!("k{i}"), 48, ctx.opts(), None, &mut secrets);
    }
    ctx.verify("create", &secrets);
    let held: Vec<_> = (0..3.min(secrets.len()))
        .map(|i| (i, ctx.step(&format!("hold k{i}"), || secrets[i].handle.read())))
        .collect();
    let mut more = Vec::new();
    for i in 0..2 {
        ctx.create(&format!("k-extra{i}"), 48, ctx.opts(), None, &mut more);
    }
    let mut marks = Vec::new();
    for (i, (guard, fired)) in held {
        if fired {
            marks.push(i);
        }
        let before = ctx.inj.hits();
        drop(guard);
        if ctx.inj.hits() > before {
            marks.push(i);
        }
    }
    for m in marks {
        may_poison(&mut secrets, m);
    }
    secrets.append(&mut more);
    for round in 0..2 {
        for i in 0..secrets.len() {
            let what = format!("round {round} read {}", secrets[i].name);
            let (got, fired) =
                ctx.step(&what, || secrets[i].handle.read().map(|g| *g == secrets[i].value[..]));
            if matches!(got, Ok(false)) {
                ctx.violation(format!("{what}: wrong value"));
            }
            if fired {
                may_poison(&mut secrets, i);
            }
        }
    }
    ctx.verify("keys", &secrets);
}

// ---------------------------------------------------------------------------
// The sweep.

/// Mappings and locked memory of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Footprint {
    maps: usize,
    locked_kb: usize,
}

fn footprint() -> Footprint {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap().lines().count();
    Footprint { maps, locked_kb: vm_lck_kb() }
}

/// Runs `workload` under `inj`, catching panics; returns the violations.
fn run_once(workload: Workload, backend: Backend, inj: Injector) -> Vec<String> {
    let ctx = Ctx { inj, backend, violations: Mutex::new(Vec::new()) };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _armed = ctx.inj.arm();
        workload(&ctx);
    }));
    let mut violations =
        ctx.violations.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(panic) = outcome {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        violations.push(format!("panic: {msg}"));
    }
    violations
}

/// The child: counts the workload's calls, then runs every failure point from
/// index `from`, printing one line per point.
fn sweep_child(workload: Workload, backend: Backend) {
    let from: usize =
        std::env::var("SIEGEL_FI_FROM").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let out = |line: String| {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}").unwrap();
        stdout.flush().unwrap();
    };
    out(String::new()); // after libtest's "test NAME ... "
                        // Warm-up: thread stacks, allocator arenas, /proc/self/mem, signal handlers.
    let warm = run_once(workload, backend, Injector::counting());
    assert!(warm.is_empty(), "the workload fails without any injected failure: {warm:?}");
    let mut baseline = footprint();
    let counting = Injector::counting();
    let clean = run_once(workload, backend, counting.clone());
    assert!(clean.is_empty(), "the workload fails without any injected failure: {clean:?}");
    assert_eq!(footprint(), baseline, "a clean run changed the footprint");
    let mut points = Vec::new();
    let mut counts = String::new();
    for call in Call::ALL {
        let n = counting.calls(call);
        if n > 0 {
            write!(counts, " {call:?}={n}").unwrap();
        }
        // Lasting failures start at up to 32 places per kind (every call for
        // most kinds; spread evenly over the hundreds of getrandom calls a
        // pool's canaries make, which would otherwise double the sweep).
        let every = n.div_ceil(32).max(1);
        for nth in 1..=n {
            for &errno in call.errnos() {
                // Once (the k-th call fails), and lasting (every call from the
                // k-th on fails: a full queue, an exhausted limit, a sandbox).
                points.push(FailPoint { call, nth, errno, persistent: false });
                if (nth - 1) % every == 0 {
                    points.push(FailPoint { call, nth, errno, persistent: true });
                }
            }
        }
    }
    out(format!("counts{counts}"));
    out(format!("points {}", points.len()));
    // The list of points itself may have taken a mapping of its own.
    baseline = footprint();
    for (i, &point) in points.iter().enumerate().skip(from) {
        out(format!("start {i} {point:?}"));
        let inj = Injector::failing(point);
        let mut violations = run_once(workload, backend, inj.clone());
        let now = footprint();
        // A lasting munmap failure leaves nothing that could give the
        // mappings back: only that one may keep them.
        let kept = point.persistent && point.call == Call::Munmap;
        if now != baseline && !kept {
            violations.push(format!("footprint after the drops {now:?}, baseline {baseline:?}"));
        }
        // After a kept one, the next drops give the mappings back: the
        // baseline stays the clean one.
        if now != baseline && !kept {
            baseline = now;
        }
        if !inj.fired() {
            out(format!("unreached {i}"));
        } else if violations.is_empty() {
            out(format!("ok {i}"));
        } else {
            out(format!("violation {i} {point:?}: {}", violations.join(" | ")));
        }
    }
    out("done".into());
}

/// What the parent learns from its children.
#[derive(Debug, Default)]
struct Summary {
    counts: String,
    points: usize,
    survived: usize,
    unreached: usize,
    violations: Vec<String>,
}

/// Runs the sweep of `workload` on `backend` in child processes, restarting
/// after a death, and reports.
fn sweep(test: &str, workload: Workload, backend: Backend) -> Summary {
    if is_child(test) {
        support::no_core_dumps();
        sweep_child(workload, backend);
        std::process::exit(0);
    }
    let started = std::time::Instant::now();
    let mut summary = Summary::default();
    let mut from = 0;
    loop {
        // A hung child (a failure that makes siegel loop or wait for good) is
        // killed and reported as a violation at the point it was running.
        let out = support::run_child_within(
            test,
            &[("SIEGEL_FI_FROM", &from.to_string())],
            std::time::Duration::from_mins(5),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut running = None;
        let mut done = false;
        for line in stdout.lines() {
            let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
            match tag {
                "counts" => rest.clone_into(&mut summary.counts),
                "points" => summary.points = rest.parse().unwrap(),
                "start" => {
                    running = rest
                        .split_once(' ')
                        .map(|(i, p)| (i.parse::<usize>().unwrap(), p.to_owned()));
                }
                "ok" => {
                    summary.survived += 1;
                    running = None;
                }
                "unreached" => {
                    summary.unreached += 1;
                    running = None;
                }
                "violation" => {
                    summary.violations.push(rest.to_owned());
                    running = None;
                }
                "done" => done = true,
                _ => {}
            }
        }
        if done && out.status.success() {
            break;
        }
        let Some((i, point)) = running else {
            panic!(
                "{test}: the sweep child failed before any failure point: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // Killed at the time limit while running a point after its first: the
        // child ran out of time for its run of points (a loaded host, the
        // emulator), which says nothing of that point; it runs again first in
        // a fresh child. A point that alone outlasts the limit is a hang.
        if out.status.signal() == Some(libc::SIGKILL) && i > from {
            from = i;
            continue;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        summary.violations.push(format!(
            "{i} {point}: the process died ({}): {}",
            out.status
                .signal()
                .map_or_else(|| format!("{:?}", out.status), |s| format!("signal {s}")),
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
        from = i + 1;
    }
    let _ = writeln!(
        std::io::stderr(),
        "{test}: calls:{}; {} failure points, {} survived, {} unreached, {} violations ({:.1?})",
        summary.counts,
        summary.points,
        summary.survived,
        summary.unreached,
        summary.violations.len(),
        started.elapsed()
    );
    for v in &summary.violations {
        let _ = writeln!(std::io::stderr(), "  {test}: {v}");
    }
    summary
}

/// The backend for `test`: page protection, or PKU when `pku` and available.
fn run(test: &str, workload: Workload, pku: bool) {
    let backend = if pku {
        if !is_child(test) && !pku_available(test) {
            return;
        }
        Backend::Pku
    } else {
        Backend::Mprotect
    };
    let summary = sweep(test, workload, backend);
    let unexpected = &summary.violations;
    assert!(
        unexpected.is_empty(),
        "{test}: {} of {} failure points broke a promise:\n{}",
        unexpected.len(),
        summary.points,
        unexpected.iter().fold(String::new(), |mut all, v| {
            let _ = writeln!(all, "  {v}");
            all
        })
    );
}

/// [`support::in_child`] for an `#[ignore]`d test (the child must be told to
/// run ignored tests too).
fn in_ignored_child(test: &str, body: impl FnOnce()) {
    if is_child(test) {
        support::no_core_dumps();
        body();
        std::process::exit(0);
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1", "--include-ignored"])
        .env("SIEGEL_TEST_CHILD", test)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{test}: child failed with {:?}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// Focused regression tests for the bugs the sweep found (exact repro).

/// Bug: when the last step of `Region::build` fails — the final
/// `mprotect(PROT_NONE)` of the data pages (page protection) or
/// `keys::obtain` (PKU) — the half-built `Region` is dropped after
/// `Entry::acquire()` but before `Entry::publish()`, and `Region::drop` calls
/// `entry.wipe_exclusive()` → `entry.pages()`, which panics ("pages of an
/// unpublished registry entry") instead of returning `Error::Map`/`Protect`;
/// the registry entry is never released.
#[test]
fn region_build_failure_returns_the_error_without_panicking() {
    // The 1st mprotect opens the fresh data pages for the canary, the 2nd seals them.
    let inj = Injector::failing(FailPoint {
        call: Call::Mprotect,
        nth: 2,
        errno: libc::ENOMEM,
        persistent: false,
    });
    let result = std::panic::catch_unwind(|| {
        let _armed = inj.arm();
        Protected::<[u8; 8]>::zeroed_in(Options::new().backend(Backend::Mprotect)).map(drop)
    });
    assert!(inj.fired());
    match result {
        Ok(Err(Error::Map { len: 0, source })) => {
            assert_eq!(source.raw_os_error(), Some(libc::ENOMEM));
        }
        Ok(other) => panic!("expected Error::Map, got {other:?}"),
        Err(panic) => panic!(
            "Region::build panicked instead of returning the mprotect error: {:?}",
            panic.downcast_ref::<&str>()
        ),
    }
}

/// Bug: `Mapping::unmap` ignores a failed `munmap` and forgets the mapping, so
/// a region dropped while `munmap` fails (ENOMEM) stays mapped — three map
/// entries and its locked pages (`VmLck`) — for the life of the process.
#[test]
fn a_failed_munmap_does_not_leak_the_mapping() {
    in_ignored_child("a_failed_munmap_does_not_leak_the_mapping", || {
        let opts = Options::new().backend(Backend::Mprotect);
        drop(Protected::<[u8; 8]>::zeroed_in(opts).unwrap()); // warm-up
        let before = footprint();
        let handle = Protected::<[u8; 8]>::zeroed_in(opts).unwrap();
        let inj = Injector::failing(FailPoint {
            call: Call::Munmap,
            nth: 1,
            errno: libc::ENOMEM,
            persistent: false,
        });
        {
            let _armed = inj.arm();
            drop(handle);
        }
        assert!(inj.fired());
        assert_eq!(footprint(), before, "the dropped region is still mapped and locked");
    });
}

/// Bug: `Arena::new` writes the slot canaries in a write scope it closes with
/// the infallible `scope::close`; if that re-seal fails, `reseal_failed`
/// poisons and wipes the whole new arena, `Arena::new` returns it as `Ok`, and
/// the allocation fails with `Error::Poisoned` — not the documented
/// `Error::Protect`/`Error::Map` carrying the errno (the arena is then skipped
/// for good as poisoned, and a new one is mapped next time).
#[test]
fn a_failed_arena_setup_reports_the_syscall_error() {
    let pool = Pool::with_options(Options::new().backend(Backend::Mprotect));
    // Arena region: RW for its canary (1), sealed (2); the canary write scope
    // opens (3) and closes (4).
    let inj = Injector::failing(FailPoint {
        call: Call::Mprotect,
        nth: 4,
        errno: libc::EACCES,
        persistent: false,
    });
    let result = {
        let _armed = inj.arm();
        Protected::init_with_in(&pool, |s: &mut [u8; 32]| s.fill(1))
    };
    assert!(inj.fired());
    match result {
        Err(Error::Protect { call: "mprotect", source }) => {
            assert_eq!(source.raw_os_error(), Some(libc::EACCES));
        }
        other => panic!("expected Error::Protect from mprotect, got {other:?}"),
    }
}

/// Bug: `Entry::wipe_exclusive` on a sealed page-protection region whose
/// `/proc/self/mem` write fails — always the case for `memfd_secret` memory —
/// falls back to mprotect(RW) + wipe + mprotect(counted protection) and
/// ignores both results: if the widening fails, nothing is wiped, yet the
/// entry is marked `WIPED` (so the drop does not wipe either) and `lockdown`
/// counts it as wiped; if the re-seal fails, the region is left `rw-s`.
#[test]
fn lockdown_wipes_and_reseals_secret_memory_despite_one_failure() {
    in_ignored_child("lockdown_wipes_and_reseals_secret_memory_despite_one_failure", || {
        let opts = Options::new().backend(Backend::Mprotect).memory(MemoryPolicy::RequireSecret);
        for nth in [1, 2] {
            let secret = Protected::init_with_in(opts, |s: &mut [u8; 64]| s.fill(0xA5)).unwrap();
            let info = secret.info();
            let inj = Injector::failing(FailPoint {
                call: Call::Mprotect,
                nth,
                errno: libc::ENOMEM,
                persistent: false,
            });
            let report = {
                let _armed = inj.arm();
                lockdown()
            };
            assert!(inj.fired());
            assert_eq!(report.wiped, 1);
            assert!(
                !readable_here(info.secret.start),
                "mprotect #{nth} failed: the region is left open"
            );
            let bytes = peek(&info).unwrap();
            assert!(
                bytes.iter().all(|&b| b == 0),
                "mprotect #{nth} failed: lockdown reported a wipe that did not happen"
            );
        }
    });
}

macro_rules! sweeps {
    ($($name:ident: $workload:expr, $pku:expr;)*) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name), $workload, $pku);
            }
        )*
    };
}

sweeps! {
    dedicated_regions_mprotect: dedicated, false;
    dedicated_regions_pku: dedicated, true;
    scopes_nested_and_threaded_mprotect: scopes, false;
    scopes_nested_and_threaded_pku: scopes, true;
    transitions_and_rotation_mprotect: transitions, false;
    transitions_and_rotation_pku: transitions, true;
    pool_growth_mprotect: pool, false;
    pool_growth_pku: pool, true;
    lockdown_mprotect: lockdown_workload, false;
    lockdown_pku: lockdown_workload, true;
    key_virtualisation_pku: keys, true;
}

#[test]
fn the_failpoint_counts_and_fails_the_planned_call() {
    let counting = Injector::counting();
    let handle = {
        let _armed = counting.arm();
        Protected::<[u8; 8]>::zeroed_in(Options::new().backend(Backend::Mprotect)).unwrap()
    };
    let mmaps = counting.calls(Call::Mmap);
    assert!(mmaps >= 1, "a region needs an mmap");
    assert!(!counting.fired());
    let failing = Injector::failing(FailPoint {
        call: Call::Mmap,
        nth: 1,
        errno: libc::ENOMEM,
        persistent: false,
    });
    let err = {
        let _armed = failing.arm();
        Protected::<[u8; 8]>::zeroed_in(Options::new().backend(Backend::Mprotect)).unwrap_err()
    };
    assert!(failing.fired());
    assert!(
        matches!(&err, Error::Map { len, source } if *len > 0 && source.raw_os_error() == Some(libc::ENOMEM)),
        "{err:?}"
    );
    // Disarmed again: the same call succeeds, and other threads never counted.
    drop(Protected::<[u8; 8]>::zeroed_in(Options::new().backend(Backend::Mprotect)).unwrap());
    assert_eq!(failing.calls(Call::Mmap), 1);
    drop(handle);
}
