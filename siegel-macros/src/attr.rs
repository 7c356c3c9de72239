//! Parsing `#[protected(...)]`: the arguments on the struct and the field
//! attribute. Unknown, misplaced and duplicated arguments are errors.

use proc_macro2::TokenStream;
use syn::{meta::ParseNestedMeta, parse::Parser as _, Attribute, LitStr, Path};

use crate::error::{tokens_to_string, Errors};

/// The arguments of `#[protected(...)]` on the struct.
#[derive(Default)]
pub(crate) struct StructArgs {
    /// `crate = "path"`: where to find `siegel` (for crates that re-export it).
    pub(crate) krate: Option<Path>,
    /// `deserialize`: implement siegel's in-place deserialization for the
    /// struct (so that `Protected<Struct>` implements `Deserialize`).
    pub(crate) deserialize: Option<Path>,
}

/// The arguments of `#[protected(...)]` on a field.
#[derive(Default)]
pub(crate) struct FieldArgs<'a> {
    /// The attribute that marked the field `frozen`: readable through the
    /// generated getter, with no `_mut` accessor.
    pub(crate) frozen: Option<&'a Attribute>,
}

/// Whether `attr` is a `#[protected]` attribute, spelled `protected` or
/// `some::path::protected`.
pub(crate) fn is_protected(attr: &Attribute) -> bool {
    attr.path().segments.last().is_some_and(|segment| segment.ident == "protected")
}

fn arg_name(meta: &ParseNestedMeta<'_>) -> String {
    tokens_to_string(&meta.path)
}

/// Parses the tokens inside `#[protected(...)]` on the struct.
pub(crate) fn struct_args(args: TokenStream, errors: &mut Errors) -> StructArgs {
    let mut out = StructArgs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            if out.krate.is_some() {
                return Err(meta.error("duplicate #[protected] argument `crate`; keep one"));
            }
            let lit: LitStr = meta.value()?.parse()?;
            let path = lit.parse().map_err(|_| {
                format_err!(
                    lit,
                    "`crate` expects the path to the siegel crate, such as \"::siegel\" or \
                     \"my_crate::reexports::siegel\""
                )
            })?;
            out.krate = Some(path);
            Ok(())
        } else if meta.path.is_ident("deserialize") {
            if out.deserialize.is_some() {
                return Err(meta.error("duplicate #[protected] argument `deserialize`; keep one"));
            }
            out.deserialize = Some(meta.path);
            Ok(())
        } else if meta.path.is_ident("frozen") {
            Err(meta.error(
                "`frozen` is not expected here; it belongs on a field: #[protected(frozen)]",
            ))
        } else {
            Err(meta.error(format_args!(
                "unknown #[protected] argument `{}`; the struct accepts `deserialize` and \
                 `crate = \"...\"`",
                arg_name(&meta)
            )))
        }
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    out
}

/// Parses one `#[protected(...)]` attribute on a field into `out`.
pub(crate) fn field_args<'a>(attr: &'a Attribute, out: &mut FieldArgs<'a>, errors: &mut Errors) {
    if let syn::Meta::Path(_) = attr.meta {
        errors.push(format_err!(
            attr,
            "#[protected] on a field needs an argument: write #[protected(frozen)]"
        ));
        return;
    }
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("frozen") {
            if out.frozen.is_some() {
                return Err(meta.error("duplicate #[protected] argument `frozen`; keep one"));
            }
            out.frozen = Some(attr);
            Ok(())
        } else if meta.path.is_ident("crate") {
            Err(meta.error(
                "`crate` is not expected here; it belongs on the struct: \
                 #[protected(crate = \"...\")]",
            ))
        } else if meta.path.is_ident("deserialize") {
            Err(meta.error(
                "`deserialize` is not expected here; it belongs on the struct: \
                 #[protected(deserialize)]",
            ))
        } else {
            Err(meta.error(format_args!(
                "unknown #[protected] field argument `{}`; a field accepts `frozen`",
                arg_name(&meta)
            )))
        }
    });
    if let Err(error) = result {
        errors.push(error);
    }
}
