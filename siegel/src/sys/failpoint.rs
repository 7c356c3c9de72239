//! Fault injection for the syscall layer (feature `fault-injection`, off by
//! default): "fail the k-th call of kind X with errno E", so that tests can run
//! a workload once to count its system calls and then once per failure point.
//!
//! Every fallible wrapper in this module's siblings starts with one
//! `failpoint!(Kind);` line. Without the feature the macro expands to nothing:
//! no code, no data, no thread-local. With it, the line asks the [`Injector`]
//! armed on the calling thread (if any) whether this call is the one to fail,
//! and returns that errno (as `Err(io::Error)`) before the real call is made.
//!
//! Arming is per thread ([`Injector::arm`]), so tests running in parallel
//! threads do not disturb each other's counts; a workload that spawns threads
//! arms a clone of the same injector in each (one shared count per kind).
//! The hook is async-signal-safe (a const thread-local pointer and atomics):
//! some wrappers run inside signal handlers.

/// Fault-injection hook: `failpoint!(Kind);` at the start of a wrapper that
/// returns `io::Result`, or `failpoint!(Kind => value);` in one that returns
/// `value` on failure. Expands to nothing without the `fault-injection`
/// feature.
#[cfg(not(feature = "fault-injection"))]
macro_rules! failpoint {
    ($call:ident) => {};
    ($call:ident => $failed:expr) => {};
}

/// See the other definition (this one is the `fault-injection` build).
#[cfg(feature = "fault-injection")]
macro_rules! failpoint {
    ($call:ident) => {
        $crate::sys::failpoint::hit($crate::sys::failpoint::Call::$call)?
    };
    ($call:ident => $failed:expr) => {
        if $crate::sys::failpoint::hit($crate::sys::failpoint::Call::$call).is_err() {
            return $failed;
        }
    };
}

#[cfg(feature = "fault-injection")]
pub use self::enabled::*;

#[cfg(feature = "fault-injection")]
mod enabled {
    use core::{
        cell::Cell,
        marker::PhantomData,
        sync::atomic::{AtomicU64, Ordering},
    };
    use std::{io, sync::Arc};

    /// Which wrapper of the syscall layer a call went through.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    #[non_exhaustive]
    pub enum Call {
        /// `mmap(NULL, .., MAP_PRIVATE | MAP_ANONYMOUS)`.
        Mmap,
        /// `munmap`.
        Munmap,
        /// `mprotect`.
        Mprotect,
        /// `mlock`.
        Mlock,
        /// `madvise`.
        Madvise,
        /// `memfd_secret`.
        MemfdSecret,
        /// `ftruncate` (of a `memfd_secret` file).
        Ftruncate,
        /// `mmap(.., MAP_SHARED | MAP_FIXED, fd)` of a `memfd_secret` file.
        MmapFixed,
        /// `open` + `pwrite` of `/proc/self/mem`.
        ProcMemWrite,
        /// `pkey_alloc`.
        PkeyAlloc,
        /// `pkey_free`.
        PkeyFree,
        /// `pkey_mprotect`.
        PkeyMprotect,
        /// `getrandom`.
        Getrandom,
        /// `sigaction` installing a handler.
        Sigaction,
        /// `sigaction` restoring a saved disposition.
        SigactionRestore,
        /// `sigaction` querying the current disposition.
        SigactionQuery,
        /// `tgkill`.
        Tgkill,
        /// `getrlimit(RLIMIT_MEMLOCK)`.
        Getrlimit,
        /// Listing `/proc/self/task`.
        ThreadIds,
        /// `stat("/proc/self/task/TID")` (a failure reads as "exited").
        ThreadAlive,
        /// Reading `/proc/self/task/TID/status` and `stat`.
        ThreadInfo,
    }

    impl Call {
        /// Every kind, in declaration order.
        pub const ALL: [Self; 21] = [
            Self::Mmap,
            Self::Munmap,
            Self::Mprotect,
            Self::Mlock,
            Self::Madvise,
            Self::MemfdSecret,
            Self::Ftruncate,
            Self::MmapFixed,
            Self::ProcMemWrite,
            Self::PkeyAlloc,
            Self::PkeyFree,
            Self::PkeyMprotect,
            Self::Getrandom,
            Self::Sigaction,
            Self::SigactionRestore,
            Self::SigactionQuery,
            Self::Tgkill,
            Self::Getrlimit,
            Self::ThreadIds,
            Self::ThreadAlive,
            Self::ThreadInfo,
        ];

        fn index(self) -> usize {
            Self::ALL.iter().position(|&c| c == self).unwrap_or(0)
        }

        /// The errnos this call can really return as siegel makes it (valid
        /// arguments, its own ranges and descriptors), from the man pages and
        /// the kernel sources; what a fault-injection sweep tries.
        #[must_use]
        pub fn errnos(self) -> &'static [i32] {
            match self {
                // mmap: address space or vm.max_map_count exhausted; munmap: a
                // split (or the maple tree's allocation) needs memory; stat of a
                // /proc file: memory.
                Self::Mmap | Self::Munmap | Self::ThreadAlive => &[libc::ENOMEM],
                // ENOMEM: a split past vm.max_map_count; EACCES: an LSM refusing
                // the change (security_file_mprotect).
                Self::Mprotect | Self::PkeyMprotect => &[libc::ENOMEM, libc::EACCES],
                // RLIMIT_MEMLOCK (ENOMEM, or EPERM without the capability);
                // EAGAIN: some pages could not be locked.
                Self::Mlock => &[libc::ENOMEM, libc::EPERM, libc::EAGAIN],
                // EAGAIN: transient kernel resources (a failed split); ENOMEM;
                // EINVAL: advice unknown to this kernel (MADV_WIPEONFORK < 4.14).
                Self::Madvise => &[libc::EAGAIN, libc::ENOMEM, libc::EINVAL],
                // Kernel without it or disabled; out of descriptors; memory.
                Self::MemfdSecret => &[libc::ENOSYS, libc::EMFILE, libc::ENOMEM],
                // Interrupted; the kernel refusing the size.
                Self::Ftruncate => &[libc::EINTR, libc::EINVAL],
                // Memory; RLIMIT_MEMLOCK (secretmem charges it, EAGAIN).
                Self::MmapFixed => &[libc::ENOMEM, libc::EAGAIN],
                // No /proc (ENOENT), hardened /proc (EACCES), force writes
                // refused (EIO: shared mappings, proc_mem.force_override=never).
                Self::ProcMemWrite => &[libc::EIO, libc::EACCES, libc::ENOENT],
                // All keys taken; no PKU in the CPU or kernel.
                Self::PkeyAlloc => &[libc::ENOSPC, libc::EINVAL, libc::ENOSYS],
                // A seccomp sandbox (ENOSYS or EPERM); EINTR is retried inside.
                Self::Getrandom => &[libc::ENOSYS, libc::EPERM],
                // A signal the kernel refuses (seccomp, a reserved number).
                // (pkey_free: a key not allocated.)
                Self::Sigaction
                | Self::SigactionRestore
                | Self::SigactionQuery
                | Self::PkeyFree => &[libc::EINVAL],
                // The thread exited; the real-time signal queue is full.
                Self::Tgkill => &[libc::ESRCH, libc::EAGAIN],
                // Only a sandbox can make it fail.
                Self::Getrlimit => &[libc::EPERM],
                // No /proc; out of descriptors.
                Self::ThreadIds | Self::ThreadInfo => &[libc::ENOENT, libc::EMFILE],
            }
        }
    }

    /// One failure point: the `nth` call (counting from 1) of kind `call` on the
    /// armed threads fails with `errno` — and, if `persistent`, every later call
    /// of that kind too (a lasting condition: a full signal queue, an exhausted
    /// map count, a sandbox).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct FailPoint {
        /// The kind of call to fail.
        pub call: Call,
        /// Which call of that kind, from 1.
        pub nth: u64,
        /// The errno it fails with.
        pub errno: i32,
        /// Whether every call of the kind from the `nth` on fails.
        pub persistent: bool,
    }

    /// Counts per kind, and the one failure to inject.
    #[derive(Debug)]
    struct Plan {
        counts: [AtomicU64; Call::ALL.len()],
        target: Option<FailPoint>,
        fired: AtomicU64,
    }

    /// A counter of system calls that may fail one of them; see the module docs.
    /// Cheap to clone (shared): clones count into the same totals.
    #[derive(Clone, Debug)]
    pub struct Injector(Arc<Plan>);

    impl Injector {
        fn new(target: Option<FailPoint>) -> Self {
            Self(Arc::new(Plan {
                counts: [const { AtomicU64::new(0) }; Call::ALL.len()],
                target,
                fired: AtomicU64::new(0),
            }))
        }

        /// Counts calls and fails none.
        #[must_use]
        pub fn counting() -> Self {
            Self::new(None)
        }

        /// Counts calls and fails the one `point` names.
        #[must_use]
        pub fn failing(point: FailPoint) -> Self {
            Self::new(Some(point))
        }

        /// Counts (and injects into) the calling thread's system calls until the
        /// returned guard drops; guards nest.
        #[must_use = "the thread is armed only while the guard lives"]
        pub fn arm(&self) -> Armed<'_> {
            let previous = ARMED.with(|armed| armed.replace(Arc::as_ptr(&self.0)));
            Armed { previous, _injector: PhantomData, _not_send: PhantomData }
        }

        /// Calls of kind `call` made on the armed threads so far.
        #[must_use]
        pub fn calls(&self, call: Call) -> u64 {
            self.0.counts[call.index()].load(Ordering::SeqCst)
        }

        /// Whether the failure was injected.
        #[must_use]
        pub fn fired(&self) -> bool {
            self.hits() > 0
        }

        /// How many calls failed so far (more than one only for a persistent
        /// failure point).
        #[must_use]
        pub fn hits(&self) -> u64 {
            self.0.fired.load(Ordering::SeqCst)
        }

        /// The failure point, if any.
        #[must_use]
        pub fn target(&self) -> Option<FailPoint> {
            self.0.target
        }
    }

    /// The calling thread is armed while this lives (see [`Injector::arm`]).
    #[derive(Debug)]
    pub struct Armed<'a> {
        previous: *const Plan,
        _injector: PhantomData<&'a Injector>,
        _not_send: PhantomData<*const ()>,
    }

    impl Drop for Armed<'_> {
        fn drop(&mut self) {
            ARMED.with(|armed| armed.set(self.previous));
        }
    }

    /// Runs `f` with the calling thread disarmed (its calls neither counted nor
    /// failed): for a test's own checks between the steps of a workload.
    pub fn paused<R>(f: impl FnOnce() -> R) -> R {
        struct Restore(*const Plan);
        impl Drop for Restore {
            fn drop(&mut self) {
                ARMED.with(|armed| armed.set(self.0));
            }
        }
        let _restore = Restore(ARMED.with(|armed| armed.replace(core::ptr::null())));
        f()
    }

    thread_local! {
        /// The plan armed on this thread (null: none). Const-initialised with no
        /// destructor, so reading it is async-signal-safe.
        static ARMED: Cell<*const Plan> = const { Cell::new(core::ptr::null()) };
    }

    /// The hook: counts a call of kind `call` on an armed thread and fails it if
    /// it is the planned one. Async-signal-safe.
    ///
    /// # Errors
    ///
    /// The planned errno, once.
    #[inline]
    pub(crate) fn hit(call: Call) -> io::Result<()> {
        let plan = ARMED.try_with(Cell::get).unwrap_or(core::ptr::null());
        // SAFETY:
        // - a non-null pointer in `ARMED` comes from `Injector::arm`, whose guard
        //   (borrowing the injector, so the `Arc` keeps the plan alive) resets it
        //   before the borrow ends; the guard is `!Send`, so it resets this very
        //   thread's pointer [1].
        //
        // [1] https://doc.rust-lang.org/std/primitive.pointer.html#method.as_ref
        let Some(plan) = (unsafe { plan.as_ref() }) else {
            return Ok(());
        };
        let nth = plan.counts[call.index()].fetch_add(1, Ordering::SeqCst) + 1;
        match plan.target {
            Some(target)
                if target.call == call
                    && (target.nth == nth || target.persistent && nth > target.nth) =>
            {
                plan.fired.fetch_add(1, Ordering::SeqCst);
                Err(io::Error::from_raw_os_error(target.errno))
            }
            _ => Ok(()),
        }
    }
}
