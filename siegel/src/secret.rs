//! What may live in a protected region: [`Plain`] values, slices of them and
//! text ([`Secret`]), and what a secret can be compared with in constant time
//! ([`CtEq`]).

#![allow(unsafe_code)]

use core::ptr::NonNull;

use subtle::ConstantTimeEq;

/// Plain data that can be kept in a protected region.
///
/// # Safety
///
/// Implementors must be:
///
/// - valid when every byte is zero (regions start zero-filled);
/// - self-contained: no pointers, references, or handles to memory elsewhere
///   (`Box`, `Vec`, `String`, `&T`), which would leave the secret outside the
///   protected pages;
/// - free of drop glue (a region is wiped, never dropped field by field);
/// - free of interior mutability (`Cell`, atomics): read guards hand out `&T` over
///   read-only pages, and a store through a shared reference would fault.
///
/// `#[protected]` implements it for structs after checking every field.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot live in protected memory: it is not `siegel::Plain`",
    label = "not plain bytes: a pointer, heap buffer or drop glue would leave the secret outside its region",
    note = "for text use `Protected<str>` (`Protected::<str>::take_in(place, &mut string)` copies a `String` in and wipes it; `from_env_in(place, ..)`, `read_from_in(place, ..)`) or a `siegel::Text<N>` field; for bytes `Protected<[u8]>` or `[u8; N]`",
    note = "a struct of secrets: put `#[siegel::protected]` on it"
)]
pub unsafe trait Plain: Sized + Send + Sync + 'static {}

macro_rules! plain {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY:
        // - primitive numbers and `bool`: all-zero is valid (0, 0.0, false), they
        //   hold no pointer, have no drop glue and no interior mutability.
        unsafe impl Plain for $t {}
    )* };
}
plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool);

// SAFETY:
// - an array of `Plain` elements is all-zero valid, pointer-free, without drop glue
//   and without interior mutability because each element is.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// Values a secret can be compared with in constant time: the time taken does not
/// depend on the contents or on where they differ. Implemented for integers and
/// for arrays and slices of them (through [`subtle`]); `#[protected]` structs are
/// compared field by field with their own accessors.
///
/// For slices the **length is public**: slices of different lengths compare
/// unequal at once, and the time taken grows with the length. Keep a secret whose
/// length must stay hidden in a fixed-size array (or pad it to one).
///
/// Every `ct_eq` returns `bool` and is a method of an *open* secret — a guard,
/// a field read through one, a [`Text`](crate::Text): the comparison itself
/// cannot fail. Opening the scope can, so a sealed
/// [`Protected`](crate::Protected) has no `ct_eq`: write `key.read()?.ct_eq(x)`,
/// where the `?` belongs to the open.
pub trait CtEq {
    /// What the secret is compared with: `Self` for numbers, arrays, slices and
    /// `str`; `str` for a [`Text`](crate::Text), `[u8]` for a
    /// [`Bytes`](crate::Bytes).
    type Candidate: ?Sized;

    /// `true` if `self` holds `candidate`, computed without data-dependent
    /// branches.
    fn ct_eq(&self, candidate: &Self::Candidate) -> bool;
}

impl<T: ConstantTimeEq> CtEq for [T] {
    type Candidate = Self;

    fn ct_eq(&self, other: &Self) -> bool {
        bool::from(ConstantTimeEq::ct_eq(self, other))
    }
}

impl<T: ConstantTimeEq, const N: usize> CtEq for [T; N] {
    type Candidate = Self;

    fn ct_eq(&self, other: &Self) -> bool {
        bool::from(ConstantTimeEq::ct_eq(&self[..], &other[..]))
    }
}

macro_rules! ct_eq_int {
    ($($t:ty),*) => { $(
        impl CtEq for $t {
            type Candidate = Self;

            fn ct_eq(&self, other: &Self) -> bool {
                bool::from(ConstantTimeEq::ct_eq(self, other))
            }
        }
    )* };
}
ct_eq_int!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl CtEq for str {
    type Candidate = Self;

    /// Compares the UTF-8 bytes; as for slices, the length is public.
    fn ct_eq(&self, other: &Self) -> bool {
        CtEq::ct_eq(self.as_bytes(), other.as_bytes())
    }
}

mod sealed {
    pub trait Sealed {}
    impl<T: super::Plain> Sealed for T {}
    impl<T: super::Plain> Sealed for [T] {}
    impl Sealed for str {}
}

/// What a [`Protected`](crate::Protected) can hold: a [`Plain`] value `T`, a slice `[T]` of them
/// whose length is chosen at run time, or text, `str`. Sealed.
///
/// A `Protected<str>` holds UTF-8 bytes. Every way in keeps them valid UTF-8: its
/// constructors copy a `String` or validate what they read before the handle is
/// typed `str`; its write scopes hand out `&mut str`, whose safe methods cannot
/// break UTF-8; and the region's other states are all-zero bytes (a fresh or
/// wiped region), which are valid UTF-8 (NUL characters).
pub trait Secret: sealed::Sealed + Send + Sync + 'static {
    /// The element type: `T` itself, or the slice's element.
    #[doc(hidden)]
    type Elem: Plain;

    /// A pointer to `len` elements at `data` (`len` is 1 for a sized `T`).
    #[doc(hidden)]
    fn __from_raw(data: NonNull<u8>, len: usize) -> NonNull<Self>;

    /// The number of elements `ptr` covers (1 for a sized `T`).
    #[doc(hidden)]
    fn __len(ptr: NonNull<Self>) -> usize;
}

impl<T: Plain> Secret for T {
    type Elem = T;

    fn __from_raw(data: NonNull<u8>, _len: usize) -> NonNull<Self> {
        data.cast()
    }

    fn __len(_ptr: NonNull<Self>) -> usize {
        1
    }
}

impl<T: Plain> Secret for [T] {
    type Elem = T;

    fn __from_raw(data: NonNull<u8>, len: usize) -> NonNull<Self> {
        NonNull::slice_from_raw_parts(data.cast(), len)
    }

    fn __len(ptr: NonNull<Self>) -> usize {
        ptr.len()
    }
}

impl Secret for str {
    type Elem = u8;

    fn __from_raw(data: NonNull<u8>, len: usize) -> NonNull<Self> {
        let bytes = NonNull::slice_from_raw_parts(data, len).as_ptr();
        #[allow(
            clippy::as_conversions,
            reason = "`*mut [u8]` to `*mut str` keeps the address and the length; no method \
                      does this cast on stable Rust"
        )]
        let text = bytes as *mut str;
        // SAFETY:
        // - `text` has the address of `data`, which is non-null (`NonNull`); the
        //   cast changes only the pointee type [1].
        // [1] https://doc.rust-lang.org/reference/expressions/operator-expr.html#pointer-to-pointer-cast
        unsafe { NonNull::new_unchecked(text) }
    }

    fn __len(ptr: NonNull<Self>) -> usize {
        // `str` and `[u8]` share their metadata: the length in bytes.
        #[allow(
            clippy::as_conversions,
            reason = "`*mut str` to `*mut [u8]` keeps the address and the length"
        )]
        let bytes = ptr.as_ptr() as *mut [u8];
        bytes.len()
    }
}
