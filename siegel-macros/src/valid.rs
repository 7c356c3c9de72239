//! The rules a `#[protected]` struct must follow, checked on the [`ast`] model.
//! Checks here are syntactic and give early, specific messages; the generated
//! `PlainField` bounds and layout assertions are what make the rules hold (a type
//! alias for `Vec<u8>` passes here and fails there).
//!
//! [`ast`]: crate::ast

use syn::{Type, Visibility};

use crate::{
    ast::{Input, ReprKind},
    error::Errors,
};

/// What the fallback may still emit after errors.
pub(crate) struct Checked {
    /// No field type was rejected: the `Plain` impl (with its per-field bounds)
    /// and the constructors can be emitted without adding follow-on errors.
    pub(crate) fields_ok: bool,
}

pub(crate) fn check(input: &Input<'_>, errors: &mut Errors) -> Checked {
    for attr in &input.stray {
        errors.push(format_err!(
            attr,
            "duplicate #[protected] attribute; apply it once, with all arguments in it \
             (#[protected(crate = \"...\")])"
        ));
    }
    check_reprs(input, errors);
    check_derives(input, errors);

    let mut fields_ok = true;
    for field in &input.fields {
        if let Some(error) = check_type(field.ty) {
            errors.push(error);
            fields_ok = false;
        }
        if field.args.frozen.is_some() && !matches!(field.original.vis, Visibility::Inherited) {
            errors.push(format_err!(
                field.original.vis,
                "a #[protected(frozen)] field must be private: any code that sees the field can \
                 assign it in a write scope; remove `{}`, the generated getter `{}()` gives read \
                 access",
                vis_str(&field.original.vis),
                syn::ext::IdentExt::unraw(field.ident)
            ));
        }
        for attr in &field.attrs {
            if attr.path().is_ident("cfg") {
                errors.push(format_err!(
                    attr,
                    "#[cfg] on a field of a #[protected] struct is not supported: the generated \
                     accessors and checks would name a field that may not exist; put the #[cfg] \
                     on the whole struct"
                ));
            }
        }
    }
    Checked { fields_ok }
}

fn vis_str(vis: &Visibility) -> String {
    quote::quote!(#vis).to_string().replace(' ', "")
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
                    quote::quote!(#path).to_string().replace(' ', "")
                ));
            }
        }
    }
}

fn check_derives(input: &Input<'_>, errors: &mut Errors) {
    for path in &input.derives {
        if let Some((name, why)) = derive_rejection(path) {
            errors.push(format_err!(
                path,
                "#[derive({name})] is not allowed on a #[protected] struct: {why}"
            ));
        }
    }
}

/// The derives a protected struct must not have, with the reason; `None` for a
/// derive that may pass (the expansion re-emits those).
pub(crate) fn derive_rejection(path: &syn::Path) -> Option<(String, &'static str)> {
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
                     the heap, outside the protected region; store them inline in a byte array \
                     (for example `[u8; 64]` with a length field)"
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
