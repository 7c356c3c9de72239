//! Where a new secret goes: [`Place`], implemented by [`Dedicated`] (a region
//! of its own with [`Options::default`]), [`Options`] (a region of its own made
//! with them) and [`Pool`] (a slot of its arenas), and by a reference to any of
//! them. Every constructor of [`Protected`](crate::Protected) takes one first,
//! as `Box::new_in` takes an allocator: `Protected::zeroed_in(Dedicated)`,
//! `Protected::zeroed_in(&pool)`.

use crate::{options::Options, pool::Pool};

mod sealed {
    /// The hidden half of [`Place`](super::Place): the place as the constructors
    /// see it.
    pub trait Sealed {
        fn home(&self) -> super::Home<'_>;
    }
}

/// Where a new secret is put, the first argument of every constructor: a
/// region of its own ([`Dedicated`], or [`Options`] of your choosing), or a
/// slot of a [`Pool`] (`&pool`; a secret larger than the largest slot, 2032
/// bytes, gets a region of its own made with the pool's options). Sealed.
///
/// A dedicated region costs three mappings and a page of locked memory, and
/// shares nothing; a pool slot costs a fraction of that, but a scope on it
/// opens its page (or, under protection keys, its arena) to its neighbours too.
///
/// # Examples
///
/// ```
/// use siegel::{Backend, Dedicated, Mechanism, Options, Pool, Protected};
///
/// let own = Protected::<[u8; 32]>::random_in(Dedicated)?;
/// let paged = Protected::<[u8; 32]>::random_in(Options::new().backend(Backend::Mprotect))?;
/// let pool = Pool::new();
/// let pooled = Protected::<[u8; 32]>::random_in(&pool)?;
/// assert!(!own.info().pooled && pooled.info().pooled);
/// assert_eq!(paged.info().mechanism, Mechanism::PageProtection);
/// # Ok::<(), siegel::Error>(())
/// ```
pub trait Place: sealed::Sealed {}

/// A region of its own for the new secret, made with [`Options::default`]:
/// the [`Place`] to use unless you need other options or a [`Pool`].
///
/// ```
/// use siegel::{Dedicated, Protected};
///
/// let key = Protected::<[u8; 32]>::init_with_in(Dedicated, |k| k.fill(7))?;
/// assert_eq!(key.read()?[0], 7);
/// # Ok::<(), siegel::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dedicated;

impl sealed::Sealed for Dedicated {
    fn home(&self) -> Home<'_> {
        Home::Dedicated(Options::default())
    }
}
impl Place for Dedicated {}

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
