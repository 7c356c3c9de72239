//! Support code for the items `#[protected]` generates. Everything here is
//! reached through [`crate::__private`] and is not public API.
//!
//! The layout logic lives here rather than in the macro crate (`siegel-guard-macros`) so that it is
//! compiled, documented and tested with the runtime it protects.

#![allow(unsafe_code)]

use crate::protected::Plain;

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
impl<const N: usize> PlainField for crate::Text<N> {}
impl<const N: usize> PlainField for crate::Bytes<N> {}

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

/// Requires `field` to be the hidden [`InPlace`] field (as [`field_is_plain`]
/// does for the others).
#[inline]
pub const fn hidden_field_is_in_place<T: HiddenField>(_field: &T) {}

/// The type of the hidden last field a `#[protected]` struct must have:
/// implemented for [`InPlace`] only, and sealed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not the hidden field of a #[protected] struct",
    label = "not siegel's `InPlace`",
    note = "#[protected] names the hidden field's type through the path of its \
            `crate = \"...\"` argument, which must lead to siegel's own items"
)]
pub trait HiddenField: PlainField + sealed::Sealed {}

impl HiddenField for InPlace {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::InPlace {}
}

/// The type of the hidden last field of every `#[protected]` struct.
///
/// Zero-sized, so it changes neither size nor alignment under `repr(C)`. Its field
/// is private to siegel, so no code outside siegel can build one — and therefore
/// no code can write a struct literal of a `#[protected]` struct, not even in the
/// module that defines it: a protected struct only ever exists zero-filled in a
/// region and initialised in place. It implements no `Clone`, `Copy` or
/// `Default`, so neither can the struct that holds it.
pub struct InPlace(());

impl core::fmt::Debug for InPlace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("InPlace")
    }
}

impl PlainField for InPlace {}

// SAFETY:
// - `InPlace` is zero-sized: all-zero (no bytes at all) is its only bit pattern and
//   is valid; it holds no pointer, has no drop glue and no interior mutability.
unsafe impl Plain for InPlace {}

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
        // - the field `$hidden` is `InPlace` (`HiddenField` is sealed): `Plain`
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
                    $crate::__private::hidden_field_is_in_place(hidden);
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
        _in_place: InPlace,
    }

    const _: () = crate::__siegel_assert_layout!(Sample; [u8; 3], u64, InPlace);

    #[test]
    fn in_place_is_zero_sized() {
        assert_eq!(core::mem::size_of::<InPlace>(), 0);
        assert_eq!(core::mem::align_of::<InPlace>(), 1);
        assert_eq!(core::mem::size_of::<Sample>(), 16);
        assert_eq!(format!("{:?}", InPlace(())), "InPlace");
    }

    #[test]
    fn plain_field_covers_plain() {
        fn is_plain_field<T: PlainField>() {}
        is_plain_field::<[u64; 4]>();
        is_plain_field::<InPlace>();
    }
}
