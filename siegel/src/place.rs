//! Where a new secret goes: [`Place`], implemented by [`Options`] (a dedicated
//! region made with them) and [`Pool`] (a slot of its arenas), and by a
//! reference to either. Every constructor of [`Protected`](crate::Protected) has a `…_in(place,
//! …)` form taking one, as `Box::new_in` takes an allocator; the form without
//! `_in` uses [`Options::default`].

use crate::{options::Options, pool::Pool};

mod sealed {
    /// The hidden half of [`Place`](super::Place): the place as the constructors
    /// see it.
    pub trait Sealed {
        fn home(&self) -> super::Home<'_>;
    }
}

/// Where a new secret is put: a dedicated region made with [`Options`], or a
/// slot of a [`Pool`] (`&pool`; a secret larger than the largest slot gets a
/// dedicated region made with the pool's options). Sealed.
///
/// # Examples
///
/// ```
/// use siegel::{Backend, Mechanism, Options, Pool, Protected};
///
/// let pool = Pool::new();
/// let pooled = Protected::<[u8; 32]>::random_in(&pool)?;
/// let paged = Protected::<[u8; 32]>::random_in(Options::new().backend(Backend::Mprotect))?;
/// assert!(pooled.is_pooled());
/// assert_eq!(paged.mechanism(), Mechanism::PageProtection);
/// # Ok::<(), siegel::Error>(())
/// ```
pub trait Place: sealed::Sealed {}

impl sealed::Sealed for Options {
    fn home(&self) -> Home<'_> {
        Home::Dedicated(*self)
    }
}
impl Place for Options {}

impl sealed::Sealed for Pool {
    fn home(&self) -> Home<'_> {
        Home::Pooled(self)
    }
}
impl Place for Pool {}

impl<L: Place + ?Sized> sealed::Sealed for &L {
    fn home(&self) -> Home<'_> {
        (**self).home()
    }
}
impl<L: Place + ?Sized> Place for &L {}

/// The place behind `place`, for the constructors.
pub(crate) fn home(place: &impl Place) -> Home<'_> {
    sealed::Sealed::home(place)
}

/// Where a constructor puts a new secret: a dedicated region made with these
/// options, or a slot of this pool. Loaders that grow a secret keep allocating
/// in the same place. (Public only to the sealed trait: not reachable by users.)
/// `Protected::alloc` makes a secret in one, as do `zeroed` and `zeroed_slice`
/// (in `protected.rs`, which sits above this module).
#[derive(Clone, Copy, Debug)]
pub enum Home<'a> {
    /// A dedicated region made with these options.
    Dedicated(Options),
    /// A slot of this pool.
    Pooled(&'a Pool),
}
