//! Support code for the items `#[protected]` generates. Everything here is
//! reached through [`crate::__private`] and is not public API.
//!
//! The layout logic lives here rather than in the macro crate (`siegel-guard-macros`) so that it is
//! compiled, documented and tested with the runtime it protects.

#![allow(unsafe_code)]

use crate::secret::Plain;

/// A field of a `#[protected]` struct: plain data kept inline.
///
/// `#[protected]` adds one `FieldTy: PlainField` bound per field to the
/// `unsafe impl Plain` it generates, so a field that is not plain data fails on
/// the field itself with the note below. It is implemented directly (not through
/// a blanket impl over [`Plain`], which would make rustc report the inner `Plain`
/// bound without this note) for the primitive [`Plain`] types, arrays of
/// `PlainField`, and every `#[protected]` struct.
///
/// The trait is safe to implement: its supertrait [`Plain`] carries the unsafe
/// contract.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a #[protected] struct",
    label = "not plain data",
    note = "a field of a #[protected] struct must be plain data kept inline: integers, floats, \
            `bool`, arrays of them, or another #[protected] struct",
    note = "pointers, references, heap types (`Vec`, `String`, `Box`), interior mutability and \
            `Drop` would leave the secret outside the protected pages or break read scopes"
)]
pub trait PlainField: Plain {}

macro_rules! plain_field {
    ($($t:ty),* $(,)?) => { $( impl PlainField for $t {} )* };
}
plain_field!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool);

impl<T: PlainField, const N: usize> PlainField for [T; N] {}

// Inline text and bytes: a length and an array, all-zero the empty string.
impl<const N: usize> PlainField for crate::text::Text<N> {}
impl<const N: usize> PlainField for crate::text::Bytes<N> {}

/// Field number `I` of a `#[protected]` struct has type `Field`, which is plain.
///
/// `#[protected]` implements it once per field, on the field's span, so a field
/// type that is not [`PlainField`] fails right there with the note above.
/// [`__siegel_impl_plain!`] then requires `Struct: PlainFieldAt<I, Field = T>`
/// with `T` the *actual* type of each field, found by inference on the struct
/// itself ([`field_is_plain`]): whoever wrote the impl that satisfies it, the
/// bound on `Field` in *this* trait was checked. A field whose impl failed still
/// has it for rustc, so the error is not repeated.
///
/// [`__siegel_impl_plain!`]: crate::__siegel_impl_plain
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no check from siegel for its field {I}",
    label = "field {I} not checked",
    note = "#[protected] implements `PlainFieldAt` for each field through the path of its \
            `crate = \"...\"` argument, which must lead to siegel's own items"
)]
pub trait PlainFieldAt<const I: usize> {
    /// The type of field `I`.
    type Field: PlainField;
}

/// Requires `S: PlainFieldAt<I, Field = T>` where `T` is the type of `field`.
///
/// Called by [`__siegel_impl_plain!`] with a reference to each field, bound by a
/// pattern on the struct: `T` is inferred from the argument (a reference to an
/// inference variable is never deref-coerced), so it is the field's real type,
/// whatever its declaration spelled.
///
/// [`__siegel_impl_plain!`]: crate::__siegel_impl_plain
#[inline]
pub const fn field_is_plain<S: ?Sized + PlainFieldAt<I, Field = T>, const I: usize, T>(_field: &T) {
}

/// Requires `field` to be the hidden [`BuiltOnlyInItsRegion`] field (as
/// [`field_is_plain`] does for the others).
#[inline]
pub const fn is_the_hidden_field<T: HiddenField>(_field: &T) {}

/// The type of the hidden last field a `#[protected]` struct must have:
/// implemented for [`BuiltOnlyInItsRegion`] only, and sealed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not the hidden field of a #[protected] struct",
    label = "not siegel's `BuiltOnlyInItsRegion`",
    note = "#[protected] names the hidden field's type through the path of its \
            `crate = \"...\"` argument, which must lead to siegel's own items"
)]
pub trait HiddenField: PlainField + sealed::Sealed {}

impl HiddenField for BuiltOnlyInItsRegion {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::BuiltOnlyInItsRegion {}
}

/// The type of the hidden last field of every `#[protected]` struct. Its name
/// is what a user reads in the compiler's error for a struct literal of one
/// ("argument of type `siegel::__private::BuiltOnlyInItsRegion` is missing"),
/// so it says the rule.
///
/// Zero-sized, so it changes neither size nor alignment under `repr(C)`. Its field
/// is private to siegel, so no code outside siegel can build one — and therefore
/// no code can write a struct literal of a `#[protected]` struct, not even in the
/// module that defines it: a protected struct only ever exists zero-filled in a
/// region and initialised in place. It implements no `Clone`, `Copy` or
/// `Default`, so neither can the struct that holds it.
pub struct BuiltOnlyInItsRegion(());

impl core::fmt::Debug for BuiltOnlyInItsRegion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BuiltOnlyInItsRegion")
    }
}

impl PlainField for BuiltOnlyInItsRegion {}

// SAFETY:
// - `BuiltOnlyInItsRegion` is zero-sized: all-zero (no bytes at all) is its only bit pattern and
//   is valid; it holds no pointer, has no drop glue and no interior mutability.
unsafe impl Plain for BuiltOnlyInItsRegion {}

/// The `Plain` impl of a `#[protected]` struct, with the checks that justify it.
///
/// `#[protected]` (a proc macro) emits no `unsafe` itself: it calls this macro,
/// whose every path goes through `$crate`, which no user can redirect. A
/// `#[protected(crate = "...")]` that points elsewhere reaches a different macro:
/// either a re-export of this one (same expansion) or the user's own, whose
/// `unsafe impl` is then the user's code, under the user's `unsafe_code` lint.
///
/// The macro is reachable by path, so anyone can call it: it trusts nothing in
/// its input. It checks the struct itself, through `Self` patterns in a generic
/// function with the impl's own parameters and where clause: the pattern is
/// exhaustive (every field is listed), `Self { .. }` only matches a struct (not
/// an enum, whose zeroed tag could be invalid, nor a union, whose fields cannot
/// be bound without `unsafe`), and the field types are inferred from the struct,
/// not taken from tokens (so aliases, associated types and macros in type
/// position cannot make the checked type differ from the real one).
///
/// Input, from `#[protected]`:
///
/// ```text
/// impl [const N: usize] Struct<N> where [predicates];
/// fields { seed: 0, nonce: 1 };   // or { 0: 0, 1: 1 } for a tuple struct
/// hidden: __siegel_in_place;      // or the hidden field's index
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __siegel_impl_plain {
    (
        impl [$($generics:tt)*] $ty:ty where [$($where:tt)*];
        fields { $($member:tt : $index:literal),* $(,)? };
        hidden: $hidden:tt;
    ) => {
        // SAFETY: `Plain` holds for `$ty` wherever this impl applies (under the
        // same parameters and where clause as the checks below, which compile
        // only if):
        // - `$ty` is a struct whose fields are exactly `$member…` and `$hidden`
        //   (the exhaustive `Self { … }` pattern);
        // - each field `$member` has a type `T` with `$ty: PlainFieldAt<$index,
        //   Field = T>`, which only an impl that satisfied `T: PlainField` (the
        //   trait's own bound) provides, and `PlainField: Plain`: each field is
        //   valid all-zero, holds no pointer, has no drop glue and no interior
        //   mutability;
        // - the field `$hidden` is `BuiltOnlyInItsRegion` (`HiddenField` is sealed): `Plain`
        //   and zero-sized;
        // - so all-zero is valid for the struct (padding may hold anything) and it
        //   adds no pointer or interior mutability of its own; it has no drop glue,
        //   since its fields have none and it has no `Drop` impl (the coherence
        //   check below, through `$crate`, so a shadowed `core` cannot stand in
        //   for `Drop`);
        // - `Send + Sync + 'static` are `Plain`'s supertraits, checked by rustc.
        // Layout (`repr(C)`, alignment) is not part of the contract: regions honour
        // any alignment up to the page size and refuse larger ones.
        #[automatically_derived]
        unsafe impl<$($generics)*> $crate::Plain for $ty where $($where)* {}

        const _: () = {
            trait ProtectedStructFieldsArePlain {
                fn check(&self);
            }
            impl<$($generics)*> ProtectedStructFieldsArePlain for $ty where $($where)* {
                fn check(&self) {
                    let Self { $($member: _,)* $hidden: _ } = self;
                    $({
                        let Self { $member: field, .. } = self;
                        $crate::__private::field_is_plain::<Self, $index, _>(field);
                    })*
                    let Self { $hidden: hidden, .. } = self;
                    $crate::__private::is_the_hidden_field(hidden);
                }
            }

            // A `Drop` impl on the struct would make the blanket impl overlap with
            // the impl for the struct (the trick of pin-project's
            // `MustNotImplDrop`). It works for const generic structs too, where
            // `needs_drop` cannot be asked in a `const _` item.
            trait ProtectedStructMustNotImplementDrop {}
            #[allow(drop_bounds)]
            impl<T: $crate::__private::core::ops::Drop> ProtectedStructMustNotImplementDrop
                for T {}
            impl<$($generics)*> ProtectedStructMustNotImplementDrop for $ty where $($where)* {}
        };
    };
}

/// The items `#[protected(deserialize)]` generates, emitted as they are when
/// siegel has its `serde` feature, and replaced by an error naming the feature
/// when it has not (rather than "could not find `serde` in `__private`").
#[cfg(feature = "serde")]
#[doc(hidden)]
#[macro_export]
macro_rules! __siegel_with_serde {
    ($($item:tt)*) => { $($item)* };
}

/// See the `serde` twin: without the feature, one clear error.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __siegel_with_serde {
    ($($item:tt)*) => {
        $crate::__private::core::compile_error! {
            "#[protected(deserialize)] needs siegel's `serde` feature (features = [\"serde\"])"
        }
    };
}

/// Fails to compile if the `#[protected]` struct `$ty` implements serde's
/// `Deserialize` (by value), as `#[derive(Deserialize)]` written *above*
/// `#[protected]` makes it do: serde's impl would build the struct outside
/// protected memory (it does not compile anyway — it misses the hidden field —
/// but rustc's "missing field `__siegel_in_place`" does not say what to write
/// instead; this check's message does). Without siegel's `serde` feature it
/// checks nothing.
///
/// Autoref specialisation: `ByValueCheck<T>` has a `__siegel_check(&self)`
/// method from [`ByValueFound`] only where `T: DeserializeOwned`, and one from
/// [`NotByValue`] on `&ByValueCheck<T>` for every `T`. Method lookup tries the
/// receiver `&ByValueCheck<T>` before `&&ByValueCheck<T>`, so the first applies
/// whenever its bound holds; its return type then fails
/// [`must_not_deserialize_by_value`]'s bound, with a message naming
/// `#[protected(deserialize)]`.
#[cfg(feature = "serde")]
#[doc(hidden)]
#[macro_export]
macro_rules! __siegel_not_deserialize {
    (impl [$($generics:tt)*] $ty:ty where [$($where:tt)*];) => {
        const _: () = {
            #[allow(dead_code, clippy::needless_borrow)]
            fn check<$($generics)*>() where $($where)* {
                #[allow(unused_imports)]
                use $crate::__private::{ByValueFound as _, NotByValue as _};
                $crate::__private::must_not_deserialize_by_value::<$ty, _>(
                    (&$crate::__private::ByValueCheck::<$ty>::NEW).__siegel_check(),
                );
            }
        };
    };
}

/// See the `serde` twin: without the feature there is no `Deserialize` to check.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __siegel_not_deserialize {
    ($($input:tt)*) => {};
}

#[cfg(feature = "serde")]
pub use self::deserialize::*;

/// What `#[protected(deserialize)]` expansions call, and the by-value check.
#[cfg(feature = "serde")]
mod deserialize {
    use core::{fmt, marker::PhantomData};

    use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess};

    use crate::serde_impls::{refuse, DeserializeInPlace, InPlace};

    /// The receiver of the by-value check (`__siegel_not_deserialize!`).
    #[derive(Debug)]
    pub struct ByValueCheck<T: ?Sized>(PhantomData<T>);

    impl<T: ?Sized> ByValueCheck<T> {
        /// The one value, usable in any context.
        pub const NEW: Self = Self(PhantomData);
    }

    /// What the check finds when the struct implements `Deserialize`.
    #[derive(Debug)]
    pub struct HasDeserialize;

    /// What the check finds otherwise.
    #[derive(Debug)]
    pub struct NoDeserialize;

    /// The preferred method: applies when `T` implements `Deserialize`.
    pub trait ByValueFound {
        /// Reports `T: DeserializeOwned`.
        fn __siegel_check(&self) -> HasDeserialize {
            HasDeserialize
        }
    }

    impl<T: DeserializeOwned> ByValueFound for ByValueCheck<T> {}

    /// The fallback method, one autoref further.
    pub trait NotByValue {
        /// Reports that `T` does not implement `Deserialize`.
        fn __siegel_check(&self) -> NoDeserialize {
            NoDeserialize
        }
    }

    impl<T: ?Sized> NotByValue for &ByValueCheck<T> {}

    /// Holds for the check's result unless the struct `T` implements
    /// `Deserialize` by value.
    #[diagnostic::on_unimplemented(
        message = "`{T}` is a #[protected] struct and cannot implement `Deserialize`: it would \
                   be built by value, outside protected memory",
        label = "`{T}` implements `Deserialize`",
        note = "remove `#[derive(Deserialize)]` (above or below #[protected]) and write \
                `#[protected(deserialize)]` instead: `Protected<{T}>` then implements \
                `Deserialize`, filling the struct in place in a new region"
    )]
    pub trait NotDeserializedByValue<T: ?Sized> {}

    impl<T: ?Sized> NotDeserializedByValue<T> for NoDeserialize {}

    /// Requires `result` to say that `T` does not implement `Deserialize`.
    #[inline]
    pub fn must_not_deserialize_by_value<T: ?Sized, R: NotDeserializedByValue<T>>(_result: R) {}

    /// The shape of a `#[protected(deserialize)]` struct, for
    /// [`deserialize_struct`].
    #[derive(Clone, Copy, Debug)]
    pub enum Shape {
        /// Named fields: a map (or a sequence, in field order).
        Named(&'static [&'static str]),
        /// A tuple struct of this many fields: a sequence.
        Tuple(usize),
        /// A tuple struct of one field: the field itself (as serde's newtype).
        Newtype,
    }

    /// Where the next field's value comes from: a map's next value, a
    /// sequence's next element, or a newtype's deserializer.
    pub trait FieldAccess<'de> {
        /// The deserializer's error.
        type Error: de::Error;

        /// Deserializes the next value into `place`; `false` if a sequence
        /// ended first.
        ///
        /// # Errors
        ///
        /// The deserializer's.
        fn in_place<T: DeserializeInPlace<'de>>(
            &mut self,
            place: &mut T,
        ) -> Result<bool, Self::Error>;

        /// Skips the next value (a field the struct does not have).
        ///
        /// # Errors
        ///
        /// The deserializer's.
        fn skip(&mut self) -> Result<bool, Self::Error>;
    }

    /// A `#[protected(deserialize)]` struct: its shape, and how to fill field
    /// number `index` in place. Generated; the expansion also implements
    /// [`DeserializeInPlace`] by calling [`deserialize_struct`].
    pub trait DeserializeFields<'de> {
        /// The struct's name, for the deserializer and for errors.
        const NAME: &'static str;
        /// Its fields.
        const SHAPE: Shape;

        /// Deserializes field number `index` from `access`, in place.
        ///
        /// # Errors
        ///
        /// The deserializer's.
        fn deserialize_field<A: FieldAccess<'de>>(
            &mut self,
            index: usize,
            access: &mut A,
        ) -> Result<bool, A::Error>;
    }

    /// Deserializes the struct `place` in place (the body of the generated
    /// `DeserializeInPlace` impl).
    ///
    /// # Errors
    ///
    /// The deserializer's, and: a missing or repeated field, a sequence of the
    /// wrong length. Unknown fields are skipped, as serde's derive does.
    pub fn deserialize_struct<'de, D, T>(deserializer: D, place: &mut T) -> Result<(), D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeFields<'de>,
    {
        match T::SHAPE {
            Shape::Newtype => {
                deserializer.deserialize_newtype_struct(T::NAME, NewtypeVisitor(place))
            }
            Shape::Named(fields) => {
                if deserializer.is_human_readable() {
                    deserializer.deserialize_any(StructVisitor(place))
                } else {
                    deserializer.deserialize_struct(T::NAME, fields, StructVisitor(place))
                }
            }
            Shape::Tuple(len) => {
                if deserializer.is_human_readable() {
                    deserializer.deserialize_any(StructVisitor(place))
                } else {
                    deserializer.deserialize_tuple_struct(T::NAME, len, StructVisitor(place))
                }
            }
        }
    }

    /// A map's next value.
    struct MapField<'a, A>(&'a mut A);

    impl<'de, A: MapAccess<'de>> FieldAccess<'de> for MapField<'_, A> {
        type Error = A::Error;

        fn in_place<T: DeserializeInPlace<'de>>(
            &mut self,
            place: &mut T,
        ) -> Result<bool, A::Error> {
            self.0.next_value_seed(InPlace(place)).map(|()| true)
        }

        fn skip(&mut self) -> Result<bool, A::Error> {
            self.0.next_value::<de::IgnoredAny>().map(|_| true)
        }
    }

    /// A sequence's next element.
    struct SeqField<'a, A>(&'a mut A);

    impl<'de, A: SeqAccess<'de>> FieldAccess<'de> for SeqField<'_, A> {
        type Error = A::Error;

        fn in_place<T: DeserializeInPlace<'de>>(
            &mut self,
            place: &mut T,
        ) -> Result<bool, A::Error> {
            self.0.next_element_seed(InPlace(place)).map(|element| element.is_some())
        }

        fn skip(&mut self) -> Result<bool, A::Error> {
            self.0.next_element::<de::IgnoredAny>().map(|element| element.is_some())
        }
    }

    /// A newtype's deserializer, used once.
    struct NewtypeField<D>(Option<D>);

    impl<'de, D: Deserializer<'de>> FieldAccess<'de> for NewtypeField<D> {
        type Error = D::Error;

        fn in_place<T: DeserializeInPlace<'de>>(
            &mut self,
            place: &mut T,
        ) -> Result<bool, D::Error> {
            match self.0.take() {
                Some(deserializer) => T::deserialize_in_place(deserializer, place).map(|()| true),
                None => Ok(false),
            }
        }

        fn skip(&mut self) -> Result<bool, D::Error> {
            match self.0.take() {
                Some(deserializer) => {
                    deserializer.deserialize_ignored_any(de::IgnoredAny).map(|_| true)
                }
                None => Ok(false),
            }
        }
    }

    /// Fills a struct with named fields (from a map or a sequence) or a tuple
    /// struct (from a sequence).
    struct StructVisitor<'a, T>(&'a mut T);

    impl<'de, T: DeserializeFields<'de>> de::Visitor<'de> for StructVisitor<'_, T> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match T::SHAPE {
                Shape::Named(_) => write!(f, "struct {}", T::NAME),
                Shape::Tuple(len) => write!(f, "tuple struct {} of {len} fields", T::NAME),
                Shape::Newtype => write!(f, "newtype struct {}", T::NAME),
            }
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let Shape::Named(fields) = T::SHAPE else {
                return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
            };
            let mut seen = vec![false; fields.len()];
            while let Some(key) = map.next_key_seed(FieldKey(fields))? {
                let Some(index) = key else {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                };
                let Some(seen) = seen.get_mut(index) else { continue };
                if core::mem::replace(seen, true) {
                    return Err(de::Error::duplicate_field(fields.get(index).unwrap_or(&"")));
                }
                self.0.deserialize_field(index, &mut MapField(&mut map))?;
            }
            match seen.iter().position(|seen| !seen) {
                Some(index) => Err(de::Error::missing_field(fields.get(index).unwrap_or(&""))),
                None => Ok(()),
            }
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let len = match T::SHAPE {
                Shape::Named(fields) => fields.len(),
                Shape::Tuple(len) => len,
                Shape::Newtype => 1,
            };
            for index in 0..len {
                if !self.0.deserialize_field(index, &mut SeqField(&mut seq))? {
                    return Err(de::Error::invalid_length(index, &self));
                }
            }
            if seq.next_element::<de::IgnoredAny>()?.is_some() {
                return Err(de::Error::invalid_length(len + 1, &self));
            }
            Ok(())
        }

        refuse!(bool, integer, float, string, bytes);
    }

    /// Fills a newtype struct from the deserializer of its one field.
    struct NewtypeVisitor<'a, T>(&'a mut T);

    impl<'de, T: DeserializeFields<'de>> de::Visitor<'de> for NewtypeVisitor<'_, T> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "newtype struct {}", T::NAME)
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<(), D::Error> {
            self.0.deserialize_field(0, &mut NewtypeField(Some(deserializer))).map(drop)
        }
    }

    /// A field's name (or index) in a map: `Some(index)`, or `None` for a field
    /// the struct does not have.
    struct FieldKey(&'static [&'static str]);

    impl<'de> DeserializeSeed<'de> for FieldKey {
        type Value = Option<usize>;

        fn deserialize<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Option<usize>, D::Error> {
            deserializer.deserialize_identifier(self)
        }
    }

    impl de::Visitor<'_> for FieldKey {
        type Value = Option<usize>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a field name")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
            Ok(self.0.iter().position(|name| *name == v))
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Option<usize>, E> {
            Ok(self.0.iter().position(|name| name.as_bytes() == v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<usize>, E> {
            Ok(usize::try_from(v).ok().filter(|&index| index < self.0.len()))
        }
    }
}

/// The largest alignment a `#[protected]` struct may have: the smallest page
/// size siegel supports. A region places the secret at the end of its data pages,
/// so any alignment up to the page size can be honoured.
pub const MAX_ALIGN: usize = 4096;

/// Compile-time layout checks for a `#[protected]` struct.
///
/// `__siegel_assert_layout!(Struct; FieldTy, …)` expands to a constant expression
/// of type `()` that fails to evaluate unless:
///
/// - the struct's alignment is at most [`MAX_ALIGN`], so a region can hold it;
/// - its alignment is at least each field's (a `repr(packed)` that slipped past
///   the macro, for example through `cfg_attr`, would lower it, and accessors
///   hand out references to the fields);
/// - its size is at least each field's.
///
/// Drop glue is ruled out elsewhere, by [`__siegel_impl_plain!`]. Paths go through
/// `$crate`, so a crate that shadows `core` (`extern crate self as core;`) cannot
/// change what is checked.
///
/// [`__siegel_impl_plain!`]: crate::__siegel_impl_plain
///
/// ```
/// #[siegel::protected]
/// struct Key {
///     bytes: [u8; 32],
/// }
/// const _: () = siegel::__siegel_assert_layout!(Key; [u8; 32]);
/// ```
///
/// ```compile_fail,E0080
/// #[repr(C, align(8192))]
/// struct Huge([u8; 1]);
/// const _: () = siegel::__siegel_assert_layout!(Huge; [u8; 1]);
/// ```
///
/// ```compile_fail,E0080
/// #[repr(C, packed)]
/// struct Packed(u8, u64);
/// const _: () = siegel::__siegel_assert_layout!(Packed; u8, u64);
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __siegel_assert_layout {
    ($ty:ty; $($field:ty),* $(,)?) => {{
        $crate::__private::core::assert!(
            $crate::__private::core::mem::align_of::<$ty>() <= $crate::__private::MAX_ALIGN,
            "the alignment of a #[protected] struct must not exceed 4096 bytes, the smallest page size"
        );
        $(
            $crate::__private::core::assert!(
                $crate::__private::core::mem::align_of::<$ty>()
                    >= $crate::__private::core::mem::align_of::<$field>(),
                "a #[protected] struct must not be packed: a field is less aligned than its type requires"
            );
            $crate::__private::core::assert!(
                $crate::__private::core::mem::size_of::<$ty>()
                    >= $crate::__private::core::mem::size_of::<$field>(),
                "a field of a #[protected] struct is larger than the struct"
            );
        )*
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    #[allow(dead_code, reason = "only the layout is under test")]
    struct Sample {
        a: [u8; 3],
        b: u64,
        _in_place: BuiltOnlyInItsRegion,
    }

    const _: () = crate::__siegel_assert_layout!(Sample; [u8; 3], u64, BuiltOnlyInItsRegion);

    #[test]
    fn in_place_is_zero_sized() {
        assert_eq!(core::mem::size_of::<BuiltOnlyInItsRegion>(), 0);
        assert_eq!(core::mem::align_of::<BuiltOnlyInItsRegion>(), 1);
        assert_eq!(core::mem::size_of::<Sample>(), 16);
        assert_eq!(format!("{:?}", BuiltOnlyInItsRegion(())), "BuiltOnlyInItsRegion");
    }

    #[test]
    fn plain_field_covers_plain() {
        fn is_plain_field<T: PlainField>() {}
        is_plain_field::<[u64; 4]>();
        is_plain_field::<BuiltOnlyInItsRegion>();
    }
}
