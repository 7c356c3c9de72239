//! The rules a `#[protected]` struct must follow, checked on the [`ast`] model,
//! and the decisions `expand` applies: which derives to re-emit, what each field's
//! accessors are called, which items can be emitted after an error.
//!
//! Checks here are syntactic and give early, specific messages; the generated
//! `PlainFieldAt` impls and the `Plain` impl they feed are what make the rules
//! hold (a type alias for `Vec<u8>` passes here and fails there).
//!
//! [`ast`]: crate::ast

use quote::format_ident;
use syn::{
    ext::IdentExt as _, punctuated::Punctuated, Attribute, Ident, Member, Meta, Token, Type,
    Visibility,
};

use crate::{
    ast::{Input, ReprKind},
    error::{tokens_to_string, Errors},
};

/// What `expand` emits, decided here.
pub(crate) struct Plan<'a> {
    /// The derives re-emitted on the struct: those not rejected.
    pub(crate) derives: Vec<&'a syn::Path>,
    /// One per field of the input, in order.
    pub(crate) fields: Vec<FieldPlan>,
    /// Every field type passed the name checks and no field is under `#[cfg]`:
    /// the `Plain` impl, the per-field impls and the constructors can be emitted
    /// without adding follow-on errors.
    pub(crate) plain: bool,
    /// Where the layout is checked, or `None` after an error (the error already
    /// says what is wrong).
    pub(crate) layout: Option<LayoutCheck>,
    /// Emit the in-place deserialization impls: `#[protected(deserialize)]`
    /// was written (or `#[derive(Deserialize)]`, rejected, which meant it), and
    /// the fields can be named.
    pub(crate) deserialize: bool,
}

/// Where the layout assertions go.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayoutCheck {
    /// A `const _` item next to the struct.
    Item,
    /// An inline const in each constructor: a const generic struct cannot be
    /// checked in a `const _` item, so each instance is checked where it is built.
    Constructors,
}

pub(crate) struct FieldPlan {
    /// The field's accessors, or `None` if the field may not exist (under
    /// `#[cfg]`, which is an error): naming it would only add errors.
    pub(crate) accessors: Option<Accessors>,
}

pub(crate) struct Accessors {
    /// `seed()` for a named field, `get()` for the field of a newtype, `_0()`,
    /// `_1()`, … for the fields of a longer tuple struct.
    pub(crate) getter: Ident,
    /// `seed_mut()`, `get_mut()`, `_0_mut()`; `None` for a frozen field.
    pub(crate) getter_mut: Option<Ident>,
}

pub(crate) fn check<'a>(input: &'a Input<'a>, errors: &mut Errors) -> Plan<'a> {
    for attr in &input.stray {
        errors.push(format_err!(
            attr,
            "duplicate #[protected] attribute; apply it once, with all arguments in it \
             (#[protected(crate = \"...\")])"
        ));
    }
    check_reprs(input, errors);
    let (derives, derive_deserialize) = check_derives(input, errors);

    let mut plain = true;
    let mut fields = Vec::with_capacity(input.fields.len());
    for field in &input.fields {
        if let Some(error) = check_type(field.ty) {
            errors.push(error);
            plain = false;
        }
        let names = accessor_names(&field.member, input.fields.len());
        if let (Some(frozen), Some(_)) = (field.args.frozen, &input.deserialize) {
            errors.push(format_err!(
                frozen,
                "#[protected(deserialize)] cannot fill a #[protected(frozen)] field: in-place \
                 deserialization can run in any write scope, so it would write the field after \
                 initialisation; remove `frozen`, or `deserialize` and fill the struct in its \
                 own module"
            ));
        }
        if field.args.frozen.is_some() && !matches!(field.original.vis, Visibility::Inherited) {
            errors.push(format_err!(
                field.original.vis,
                "a #[protected(frozen)] field must be private: any code that sees the field can \
                 assign it in a write scope; remove `{}`, the generated getter `{}()` gives read \
                 access",
                tokens_to_string(&field.original.vis),
                names.0.unraw()
            ));
        }
        let mut has_cfg = false;
        for attr in &field.attrs {
            if is_cfg(attr) {
                has_cfg = true;
                errors.push(format_err!(
                    attr,
                    "#[cfg] on a field of a #[protected] struct is not supported: the generated \
                     accessors and checks would name a field that may not exist; put the #[cfg] \
                     on the whole struct"
                ));
            }
        }
        // The field may not exist: naming it (in accessors, or in the checks of
        // the `Plain` impl) would only add errors.
        plain &= !has_cfg;
        let accessors = (!has_cfg).then(|| Accessors {
            getter: names.0,
            getter_mut: field.args.frozen.is_none().then_some(names.1),
        });
        fields.push(FieldPlan { accessors });
    }

    let layout = errors.is_empty().then_some(if input.is_generic() {
        LayoutCheck::Constructors
    } else {
        LayoutCheck::Item
    });
    let frozen = input.fields.iter().any(|field| field.args.frozen.is_some());
    let deserialize = (input.deserialize.is_some() || derive_deserialize) && plain && !frozen;
    Plan { derives, fields, plain, layout, deserialize }
}

/// The getter and the `_mut` accessor of a field of a struct with `count` fields.
fn accessor_names(member: &Member, count: usize) -> (Ident, Ident) {
    match member {
        Member::Named(ident) => {
            (ident.clone(), format_ident!("{}_mut", ident.unraw(), span = ident.span()))
        }
        Member::Unnamed(index) if count == 1 => {
            (Ident::new("get", index.span), Ident::new("get_mut", index.span))
        }
        Member::Unnamed(index) => (
            format_ident!("_{}", index.index, span = index.span),
            format_ident!("_{}_mut", index.index, span = index.span),
        ),
    }
}

/// Whether `attr` is `#[cfg(...)]`, or a `#[cfg_attr(...)]` that may expand to
/// one (attribute macros see field attributes before `cfg_attr` is expanded).
fn is_cfg(attr: &Attribute) -> bool {
    is_cfg_meta(&attr.meta)
}

fn is_cfg_meta(meta: &Meta) -> bool {
    if meta.path().is_ident("cfg") {
        return true;
    }
    if !meta.path().is_ident("cfg_attr") {
        return false;
    }
    let Meta::List(list) = meta else { return false };
    // `cfg_attr(predicate, attr, ...)`: anything unparsable is left to rustc.
    list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .is_ok_and(|metas| metas.iter().skip(1).any(is_cfg_meta))
}

fn check_reprs(input: &Input<'_>, errors: &mut Errors) {
    for repr in &input.reprs {
        match repr.kind {
            ReprKind::C | ReprKind::Align(_) => {}
            ReprKind::Packed => errors.push(format_err!(
                repr.path,
                "#[repr(packed)] is not supported on a #[protected] struct: accessors hand out \
                 references to the fields, which must be aligned; remove it (#[protected] gives \
                 the struct #[repr(C)])"
            )),
            ReprKind::Other => {
                let path = &repr.path;
                errors.push(format_err!(
                    path,
                    "#[repr({})] conflicts with the #[repr(C)] layout #[protected] gives the \
                     struct; remove it (only `C` and `align(N)` are accepted)",
                    tokens_to_string(path)
                ));
            }
        }
    }
}

/// Reports the derives a protected struct must not have, and returns the others,
/// which the expansion re-emits, and whether `Deserialize` was among the
/// rejected (the user meant `#[protected(deserialize)]`: the expansion gives
/// it, so that uses of `Protected<Struct>` do not add follow-on errors).
fn check_derives<'a>(input: &'a Input<'a>, errors: &mut Errors) -> (Vec<&'a syn::Path>, bool) {
    let mut accepted = Vec::new();
    let mut deserialize = false;
    for path in &input.derives {
        if path.segments.last().is_some_and(|segment| segment.ident == "Deserialize") {
            deserialize = true;
            let name = input.original.ident.unraw();
            let fix = if input.deserialize.is_some() {
                "remove it: #[protected(deserialize)], already here, fills the struct in place"
                    .to_owned()
            } else {
                format!(
                    "remove it and write #[protected(deserialize)], which fills the struct in \
                     place: `Protected<{name}>` then implements `Deserialize`"
                )
            };
            errors.push(format_err!(
                path,
                "#[derive({})] is not allowed on a #[protected] struct: it would build the \
                 struct by value, outside protected memory; {fix}",
                tokens_to_string(path)
            ));
            continue;
        }
        match derive_rejection(path) {
            Some((name, why)) => errors.push(format_err!(
                path,
                "#[derive({name})] is not allowed on a #[protected] struct: {why}"
            )),
            None => accepted.push(path),
        }
    }
    (accepted, deserialize)
}

/// The reason a derive is rejected, or `None` for one that may pass
/// (`Deserialize` is [`check_derives`]' own case).
fn derive_rejection(path: &syn::Path) -> Option<(String, &'static str)> {
    let name = path.segments.last()?.ident.to_string();
    let why = match name.as_str() {
        "Clone" | "Copy" => {
            "a protected struct lives only in its region, and a copy would leave the secret \
             in ordinary memory; remove it"
        }
        "Default" => {
            "a default value would be built in ordinary memory; remove it and create the \
             struct zeroed in its region with `protect_zeroed()` or `protect_with(...)`"
        }
        "Debug" => {
            "it would print the secret; remove it, #[protected] generates a `Debug` impl \
             that prints `[REDACTED]`"
        }
        "PartialEq" | "Eq" | "PartialOrd" | "Ord" | "Hash" => {
            "comparing or hashing secrets field by field leaks them through timing; remove \
             it and compare in a read scope with a constant-time routine"
        }
        _ => return None,
    };
    Some((name, why))
}

/// Rejects field types that are certainly not plain data, by name.
fn check_type(ty: &Type) -> Option<syn::Error> {
    let message = match ty {
        Type::Reference(_) => {
            "a reference cannot be a field of a #[protected] struct: it points outside the \
             protected region; store the data inline (for example `[u8; 32]` instead of `&[u8]`)"
        }
        Type::Ptr(_) => {
            "a raw pointer cannot be a field of a #[protected] struct: it points outside the \
             protected region; store the data inline"
        }
        Type::BareFn(_) => {
            "a function pointer cannot be a field of a #[protected] struct: it is not a secret \
             and the all-zero value is not a valid function pointer; keep it outside"
        }
        Type::TraitObject(_) | Type::ImplTrait(_) => {
            "a trait object cannot be a field of a #[protected] struct: its size and type are \
             unknown where the struct is defined; use a concrete plain type"
        }
        Type::Slice(_) => {
            "a slice cannot be a field of a #[protected] struct: its length is not fixed; use \
             an array `[T; N]`, or `Protected<[T]>` for a length chosen at run time"
        }
        Type::Array(array) => return check_type(&array.elem),
        Type::Paren(inner) => return check_type(&inner.elem),
        Type::Group(inner) => return check_type(&inner.elem),
        Type::Tuple(tuple) => return tuple.elems.iter().find_map(check_type),
        Type::Path(path) if path.qself.is_none() => {
            let segment = path.path.segments.last()?;
            let name = segment.ident.to_string();
            let message = match name.as_str() {
                "Vec" | "VecDeque" | "BinaryHeap" | "LinkedList" | "HashMap" | "HashSet"
                | "BTreeMap" | "BTreeSet" => format!(
                    "`{name}` cannot be a field of a #[protected] struct: it keeps its elements \
                     on the heap, outside the protected region; store them inline in an array \
                     (for example `[u8; 32]`), or use `Protected<[T]>` for a length chosen at \
                     run time"
                ),
                "String" | "CString" | "OsString" | "PathBuf" => format!(
                    "`{name}` cannot be a field of a #[protected] struct: it keeps its bytes on \
                     the heap, outside the protected region; use `siegel::Text<N>` (text of \
                     at most N bytes, kept inline), or `Protected<str>` for text on its own"
                ),
                "Box" | "Rc" | "Arc" | "Weak" | "NonNull" => format!(
                    "`{name}` cannot be a field of a #[protected] struct: it points outside the \
                     protected region; store the value inline"
                ),
                "Cell" | "RefCell" | "UnsafeCell" | "OnceCell" | "Mutex" | "RwLock" => format!(
                    "`{name}` cannot be a field of a #[protected] struct: interior mutability \
                     would store through `&self` into pages a read scope keeps read-only; use \
                     the plain value and change it in a write scope"
                ),
                _ if name.starts_with("Atomic") => format!(
                    "`{name}` cannot be a field of a #[protected] struct: interior mutability \
                     would store through `&self` into pages a read scope keeps read-only; use \
                     the plain value and change it in a write scope"
                ),
                _ => return None,
            };
            return Some(format_err!(ty, "{message}"));
        }
        _ => return None,
    };
    Some(format_err!(ty, "{message}"))
}
