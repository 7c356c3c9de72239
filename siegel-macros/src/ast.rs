//! The typed model of a `#[protected]` struct. Every part keeps the tokens it came
//! from (`original`, `path`) so that diagnostics can point at them.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{
    punctuated::Punctuated, token, Attribute, Fields, GenericParam, Item, ItemStruct, LitInt,
    Member, Path, Token, Type,
};

use crate::{
    attr::{self, FieldArgs, StructArgs},
    error::Errors,
};

/// A struct with named fields, or a tuple struct, with at least one field and at
/// most const generic parameters: the only shapes `#[protected]` accepts.
pub(crate) struct Input<'a> {
    pub(crate) original: &'a ItemStruct,
    /// The path to the `siegel` crate: `::siegel` unless `crate = "..."` says
    /// otherwise.
    pub(crate) krate: Path,
    /// `#[protected(deserialize)]`: the argument, for spans.
    pub(crate) deserialize: Option<Path>,
    /// Attributes passed through unchanged (docs, `#[allow]`, other derives' helpers).
    pub(crate) attrs: Vec<&'a Attribute>,
    /// Every `repr` hint, from all `#[repr(...)]` attributes.
    pub(crate) reprs: Vec<Repr>,
    /// Every derived trait, from all `#[derive(...)]` attributes.
    pub(crate) derives: Vec<Path>,
    /// Further `#[protected]` attributes on the struct (the macro applied twice).
    pub(crate) stray: Vec<&'a Attribute>,
    /// How the fields are written, with their delimiters (for spans).
    pub(crate) style: Style,
    pub(crate) fields: Vec<Field<'a>>,
}

/// `struct S { name: Type }` or `struct S(Type);`.
pub(crate) enum Style {
    Named(token::Brace),
    Tuple(token::Paren),
}

pub(crate) struct Field<'a> {
    pub(crate) original: &'a syn::Field,
    /// `name` for a named field, `0`, `1`, … (spanned on the field) in a tuple
    /// struct.
    pub(crate) member: Member,
    pub(crate) ty: &'a Type,
    /// Attributes passed through unchanged (the field's own `#[protected]` removed).
    pub(crate) attrs: Vec<&'a Attribute>,
    pub(crate) args: FieldArgs<'a>,
}

/// One hint of a `#[repr(...)]` attribute.
pub(crate) struct Repr {
    /// The hint's name, for spans: `C`, `packed`, `align`.
    pub(crate) path: Path,
    pub(crate) kind: ReprKind,
}

pub(crate) enum ReprKind {
    C,
    Align(LitInt),
    Packed,
    /// `transparent`, `Rust`, an integer type, …: all conflict with `repr(C)`.
    Other,
}

impl<'a> Input<'a> {
    /// Builds the model, or fails on a shape `#[protected]` cannot handle: not a
    /// struct, no fields, lifetime or type parameters.
    pub(crate) fn from_syn(
        item: &'a Item,
        args: StructArgs,
        errors: &mut Errors,
    ) -> syn::Result<Self> {
        let (item, style, fields) = struct_fields(item)?;
        check_generics(&item.generics)?;

        let mut input = Input {
            original: item,
            krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::siegel)),
            deserialize: args.deserialize,
            attrs: Vec::new(),
            reprs: Vec::new(),
            derives: Vec::new(),
            stray: Vec::new(),
            style,
            fields: Vec::new(),
        };
        for attr in &item.attrs {
            if attr.path().is_ident("repr") {
                parse_repr(attr, &mut input.reprs, errors);
            } else if attr.path().is_ident("derive") {
                match attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated) {
                    Ok(paths) => input.derives.extend(paths),
                    Err(error) => errors.push(error),
                }
            } else if attr::is_protected(attr) {
                input.stray.push(attr);
            } else {
                input.attrs.push(attr);
            }
        }
        for (index, field) in fields.iter().enumerate() {
            let mut args = FieldArgs::default();
            let mut attrs = Vec::new();
            for attr in &field.attrs {
                if attr::is_protected(attr) {
                    attr::field_args(attr, &mut args, errors);
                } else {
                    attrs.push(attr);
                }
            }
            let member = match &field.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(syn::Index {
                    index: u32::try_from(index).expect("fewer than 2^32 fields"),
                    span: syn::spanned::Spanned::span(&field.ty),
                }),
            };
            input.fields.push(Field { original: field, member, ty: &field.ty, attrs, args });
        }
        Ok(input)
    }

    /// Whether the struct has const generic parameters (the only kind accepted).
    pub(crate) fn is_generic(&self) -> bool {
        !self.original.generics.params.is_empty()
    }
}

/// The struct and its fields, or an error for any other shape.
fn struct_fields(
    item: &Item,
) -> syn::Result<(&ItemStruct, Style, &Punctuated<syn::Field, Token![,]>)> {
    let item = match item {
        Item::Struct(item) => item,
        Item::Enum(item) => {
            let (token, ident) = (&item.enum_token, &item.ident);
            return Err(format_err!(
                quote!(#token #ident),
                "#[protected] cannot be applied to an enum: the all-zero bit pattern a region \
                 starts with need not be a valid variant; use a struct"
            ));
        }
        Item::Union(item) => {
            let (token, ident) = (&item.union_token, &item.ident);
            return Err(format_err!(
                quote!(#token #ident),
                "#[protected] cannot be applied to a union: its fields overlap, so no accessor \
                 can be checked; use a struct"
            ));
        }
        other => {
            return Err(format_err!(
                other,
                "#[protected] can only be applied to a struct, with named fields or a tuple \
                 struct"
            ));
        }
    };

    let (style, fields, span) = match &item.fields {
        Fields::Named(named) => {
            (Style::Named(named.brace_token), &named.named, named.brace_token.span.join())
        }
        Fields::Unnamed(unnamed) => {
            (Style::Tuple(unnamed.paren_token), &unnamed.unnamed, unnamed.paren_token.span.join())
        }
        Fields::Unit => {
            let (token, ident) = (&item.struct_token, &item.ident);
            return Err(format_err!(
                quote!(#token #ident),
                "#[protected] does not support unit structs: there is no secret to protect; \
                 add fields"
            ));
        }
    };
    if fields.is_empty() {
        return Err(syn::Error::new(
            span,
            "a #[protected] struct needs at least one field: there is no secret to protect",
        ));
    }

    Ok((item, style, fields))
}

/// Rejects lifetime and type parameters; const parameters are accepted.
fn check_generics(generics: &syn::Generics) -> syn::Result<()> {
    let mut errors = Errors::default();
    for param in &generics.params {
        match param {
            GenericParam::Lifetime(param) => errors.push(format_err!(
                param,
                "#[protected] does not support lifetime parameters: a protected struct holds \
                 no references; store the data inline (for example `[u8; 32]`)"
            )),
            GenericParam::Type(param) => errors.push(format_err!(
                param,
                "#[protected] does not support type parameters: a field of type `{}` cannot \
                 be checked where the struct is defined; use a concrete plain type, or a \
                 const parameter for an array length (`const N: usize`)",
                param.ident
            )),
            GenericParam::Const(_) => {}
        }
    }
    errors.into_error().map_or(Ok(()), Err)
}

fn parse_repr(attr: &Attribute, reprs: &mut Vec<Repr>, errors: &mut Errors) {
    let result = attr.parse_nested_meta(|meta| {
        let kind = if meta.path.is_ident("C") {
            ReprKind::C
        } else if meta.path.is_ident("align") {
            let content;
            syn::parenthesized!(content in meta.input);
            ReprKind::Align(content.parse()?)
        } else {
            // Skip `packed(N)` and other hints' arguments.
            if meta.input.peek(syn::token::Paren) {
                let _args: TokenStream = meta.input.parse::<proc_macro2::Group>()?.stream();
            }
            if meta.path.is_ident("packed") {
                ReprKind::Packed
            } else {
                ReprKind::Other
            }
        };
        reprs.push(Repr { path: meta.path, kind });
        Ok(())
    });
    if let Err(error) = result {
        errors.push(error);
    }
}

/// Strips `#[protected(...)]` from the fields of `item` (they are ours, and would
/// otherwise be read as another use of the macro), for the fallback output after
/// a shape error.
pub(crate) fn strip_field_attrs(item: &Item) -> Item {
    let mut item = item.clone();
    let fields = match &mut item {
        Item::Struct(item) => Some(&mut item.fields),
        Item::Union(item) => {
            for field in &mut item.fields.named {
                field.attrs.retain(|attr| !attr::is_protected(attr));
            }
            None
        }
        Item::Enum(item) => {
            for variant in &mut item.variants {
                for field in &mut variant.fields {
                    field.attrs.retain(|attr| !attr::is_protected(attr));
                }
            }
            None
        }
        _ => None,
    };
    if let Some(fields) = fields {
        for field in fields {
            field.attrs.retain(|attr| !attr::is_protected(attr));
        }
    }
    item
}
