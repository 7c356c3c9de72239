//! Permission states: zero-sized types that say, at compile time, what a handle or
//! guard may do with its region.
//!
//! | state       | loads | stores | [`Send`]/[`Sync`] | why                                      |
//! |-------------|-------|--------|-------------------|------------------------------------------|
//! | [`NoAccess`]  | no    | no     | yes               | sealed at rest: nothing in any thread can read it |
//! | [`ReadOnly`]  | yes   | no     | no                | open in *this* thread (PKRU is per thread) |
//! | [`ReadWrite`] | yes   | yes    | no                | open in *this* thread                    |
//!
//! The traits are sealed: only these three types implement them.

use core::marker::PhantomData;

use crate::access::Access;

pub(crate) mod sealed {
    use crate::access::Access;

    /// The hidden half of [`Permission`](super::Permission): what the runtime
    /// needs to know of a state. Kept here, not on `Permission`, so that the
    /// compiler's error for an `impl Permission` outside siegel names only the
    /// seal, not these items.
    pub trait Sealed {
        /// The access a handle in this state holds open for as long as it lives.
        const HELD: Option<Access>;
        /// The state's name, for `Debug` output.
        const NAME: &'static str;
    }
}

/// A permission state of a protected region: [`NoAccess`], [`ReadOnly`] or
/// [`ReadWrite`]. Sealed: it cannot be implemented outside siegel.
pub trait Permission: sealed::Sealed + 'static {}

/// States whose handle may read the secret directly (no scope needed).
pub trait Readable: Permission {}

/// States whose handle may write the secret directly (no scope needed).
pub trait Writable: Readable {}

/// States from which a scoped write guard may be opened with `write(&mut self)`:
/// [`NoAccess`] (opens read-write, re-seals on drop) and [`ReadWrite`] (already open).
/// A [`ReadOnly`] handle must change state first, with `into_read_write` or `seal`.
pub trait WriteScope: Permission {}

/// Sealed at rest: no thread can read or write the region until a scope opens it.
///
/// A handle in this state is [`Send`] and [`Sync`]: other threads may open their own
/// read scopes on it at the same time.
#[derive(Debug)]
pub enum NoAccess {}

/// Open for reading in the thread that made the transition.
///
/// `!Send` and `!Sync`: under protection keys the right to read lives in one
/// thread's PKRU register, so the handle must stay in that thread.
#[derive(Debug)]
pub struct ReadOnly {
    _not_send: PhantomData<*const ()>,
}

/// Open for reading and writing in the thread that made the transition.
///
/// `!Send` and `!Sync`, for the same reason as [`ReadOnly`].
#[derive(Debug)]
pub struct ReadWrite {
    _not_send: PhantomData<*const ()>,
}

impl sealed::Sealed for NoAccess {
    const HELD: Option<Access> = None;
    const NAME: &'static str = "NoAccess";
}
impl sealed::Sealed for ReadOnly {
    const HELD: Option<Access> = Some(Access::Read);
    const NAME: &'static str = "ReadOnly";
}
impl sealed::Sealed for ReadWrite {
    const HELD: Option<Access> = Some(Access::Write);
    const NAME: &'static str = "ReadWrite";
}

impl Permission for NoAccess {}
impl Permission for ReadOnly {}
impl Permission for ReadWrite {}

impl Readable for ReadOnly {}
impl Readable for ReadWrite {}
impl Writable for ReadWrite {}

impl WriteScope for NoAccess {}
impl WriteScope for ReadWrite {}
