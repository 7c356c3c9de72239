//! Quoting: the struct, its checks and its items, as [`valid`] decided. No
//! validation happens here; after an error, the [`Plan`] says what can still be
//! emitted without flooding the user with follow-on errors.
//!
//! [`valid`]: crate::valid

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens as _};
use syn::{ext::IdentExt as _, spanned::Spanned as _, Item, LitStr, Member};

use crate::{
    ast::{self, Field, Input, ReprKind, Style},
    attr,
    error::Errors,
    valid::{self, Accessors, LayoutCheck, Plan},
};

/// The entry point: `#[protected(args)] input`.
pub(crate) fn protected(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(error) => {
            let mut output = error.to_compile_error();
            output.extend(input);
            return output;
        }
    };
    let mut errors = Errors::default();
    let args = attr::struct_args(args, &mut errors);
    let input = match Input::from_syn(&item, args, &mut errors) {
        Ok(input) => input,
        Err(error) => {
            // A shape we cannot handle: emit the item alone (minus our field
            // attributes), so that the rest of the crate still sees the type.
            errors.push(error);
            let item = ast::strip_field_attrs(&item);
            return quote!(#errors #item);
        }
    };
    let plan = valid::check(&input, &mut errors);
    let output = Output { input: &input, plan: &plan }.generate();
    quote!(#errors #output)
}

/// Lints allowed on every generated item: the user's lint levels should judge
/// their code, not ours.
fn allowed_lints() -> TokenStream {
    quote! {
        #[allow(
            // Accessors and constructors the program does not call.
            dead_code,
            // A field type may be deprecated; the user already hears about it.
            deprecated,
            // Accessors take the struct's visibility, even in a private module.
            unreachable_pub,
            // Absolute `::core::…` paths are for hygiene.
            unused_qualifications,
            clippy::missing_const_for_fn,
            clippy::must_use_candidate,
            clippy::redundant_pub_crate,
            clippy::use_self,
        )]
    }
}

struct Output<'a> {
    input: &'a Input<'a>,
    plan: &'a Plan<'a>,
}

impl Output<'_> {
    fn generate(&self) -> TokenStream {
        let item = self.item();
        let debug = self.debug();
        let accessors = self.accessors();
        let (plain, constructors) = if self.plan.plain {
            (self.plain_impl(), self.constructors())
        } else {
            Default::default()
        };
        let layout = self.layout_check();
        let deserialize =
            if self.plan.deserialize { self.deserialize() } else { TokenStream::new() };
        let by_value = self.not_deserialize_check();
        quote! {
            #item
            #plain
            #debug
            #accessors
            #constructors
            #layout
            #deserialize
            #by_value
        }
    }

    /// The impl parameters without their defaults, as siegel's `macro_rules`
    /// helpers take them (`[const N: usize]`), and the where clause's predicates.
    fn bare_params(&self) -> (Vec<syn::GenericParam>, TokenStream) {
        let generics = &self.input.original.generics;
        let params = generics
            .params
            .iter()
            .map(|param| match param {
                syn::GenericParam::Const(param) => {
                    let mut param = param.clone();
                    param.eq_token = None;
                    param.default = None;
                    syn::GenericParam::Const(param)
                }
                other => other.clone(),
            })
            .collect();
        let predicates = generics.where_clause.as_ref().map(|clause| &clause.predicates);
        (params, quote!(#predicates))
    }

    /// `#[protected(deserialize)]`: `DeserializeFields` (the struct's shape and
    /// one in-place call per field, spanned on the field's type so that a type
    /// siegel cannot deserialize in place is reported there) and
    /// `DeserializeInPlace`, which makes `Protected<Struct>` implement
    /// `Deserialize`. Through siegel's `with_serde!`, which turns them into one
    /// clear error when siegel lacks its `serde` feature.
    fn deserialize(&self) -> TokenStream {
        let input = self.input;
        let krate = &input.krate;
        let ident = &input.original.ident;
        let (params, predicates) = self.bare_params();
        let (_, ty_generics, _) = input.original.generics.split_for_impl();
        let name = LitStr::new(&ident.unraw().to_string(), ident.span());
        let shape = match input.style {
            Style::Named(_) => {
                let names = input.fields.iter().map(|field| match &field.member {
                    Member::Named(ident) => LitStr::new(&ident.unraw().to_string(), ident.span()),
                    Member::Unnamed(index) => LitStr::new(&index.index.to_string(), index.span),
                });
                quote!(#krate::__private::Shape::Named(&[#(#names),*]))
            }
            Style::Tuple(_) if input.fields.len() == 1 => quote!(#krate::__private::Shape::Newtype),
            Style::Tuple(_) => {
                let len = proc_macro2::Literal::usize_unsuffixed(input.fields.len());
                quote!(#krate::__private::Shape::Tuple(#len))
            }
        };
        let arms = input.fields.iter().enumerate().map(|(index, field)| {
            let span = field.ty.span();
            let krate = located_at(krate.to_token_stream(), span);
            let member = &field.member;
            let index = proc_macro2::Literal::usize_unsuffixed(index);
            quote_spanned! {span=>
                #index => #krate::__private::FieldAccess::in_place(access, &mut self.#member),
            }
        });
        let allowed = allowed_lints();
        quote! {
            #krate::__private::with_serde! {
                #allowed
                #[automatically_derived]
                impl<'de, #(#params),*> #krate::__private::DeserializeFields<'de>
                    for #ident #ty_generics where #predicates
                {
                    const NAME: &'static str = #name;
                    const SHAPE: #krate::__private::Shape = #shape;

                    #[inline]
                    fn deserialize_field<__A: #krate::__private::FieldAccess<'de>>(
                        &mut self,
                        index: usize,
                        access: &mut __A,
                    ) -> ::core::result::Result<bool, <__A as #krate::__private::FieldAccess<'de>>::Error> {
                        match index {
                            #(#arms)*
                            _ => #krate::__private::FieldAccess::skip(access),
                        }
                    }
                }

                #allowed
                #[automatically_derived]
                impl<'de, #(#params),*> #krate::DeserializeInPlace<'de>
                    for #ident #ty_generics where #predicates
                {
                    #[inline]
                    fn deserialize_in_place<__D: #krate::__private::serde::Deserializer<'de>>(
                        deserializer: __D,
                        place: &mut Self,
                    ) -> ::core::result::Result<(), <__D as #krate::__private::serde::Deserializer<'de>>::Error> {
                        #krate::__private::deserialize_struct(deserializer, place)
                    }
                }
            }
        }
    }

    /// A check that the struct does not implement serde's `Deserialize` by value
    /// (a `#[derive(Deserialize)]` written above `#[protected]`, which this
    /// macro never sees): siegel's `not_deserialize!`, spanned on the struct's
    /// name, whose error names `#[protected(deserialize)]`.
    fn not_deserialize_check(&self) -> TokenStream {
        let input = self.input;
        let krate = &input.krate;
        let ident = &input.original.ident;
        let (params, predicates) = self.bare_params();
        let (_, ty_generics, _) = input.original.generics.split_for_impl();
        let span = ident.span();
        let path = located_at(quote!(#krate::__private::not_deserialize), span);
        quote_spanned! {span=>
            #path! {
                impl [#(#params),*] #ident #ty_generics where [#predicates];
            }
        }
    }

    /// The struct: `repr(C)`, the accepted derives and attributes, the fields
    /// without our attributes, and the hidden `BuiltOnlyInItsRegion` field last.
    fn item(&self) -> TokenStream {
        let input = self.input;
        let krate = &input.krate;
        let syn::ItemStruct { vis, struct_token, ident, generics, .. } = input.original;
        let where_clause = &generics.where_clause;
        let attrs = &input.attrs;
        let aligns = input.reprs.iter().filter_map(|repr| match &repr.kind {
            ReprKind::Align(align) => Some(quote!(, align(#align))),
            _ => None,
        });
        let derives = &self.plan.derives;
        let derive = (!derives.is_empty()).then(|| quote!(#[derive(#(#derives),*)]));
        let fields = input.fields.iter().map(|field| {
            let attrs = &field.attrs;
            let vis = &field.original.vis;
            let ty = field.ty;
            match &field.member {
                Member::Named(ident) => quote!(#(#attrs)* #vis #ident: #ty),
                Member::Unnamed(_) => quote!(#(#attrs)* #vis #ty),
            }
        });
        let hidden_doc = quote! {
            /// Zero-sized and unconstructible outside siegel: no struct literal
            /// of this type can be written, so it exists only in a region.
            #[doc(hidden)]
        };
        // Reuse the delimiters' span, so that diagnostics about the whole struct
        // point at them rather than at the attribute.
        let mut body = TokenStream::new();
        match input.style {
            Style::Named(brace) => {
                brace.surround(&mut body, |body| {
                    body.extend(quote! {
                        #(#fields,)*
                        #hidden_doc
                        __siegel_in_place: #krate::__private::BuiltOnlyInItsRegion,
                    });
                });
                quote! {
                    #derive
                    #(#attrs)*
                    #[repr(C #(#aligns)*)]
                    #vis #struct_token #ident #generics #where_clause #body
                }
            }
            Style::Tuple(paren) => {
                paren.surround(&mut body, |body| {
                    body.extend(quote! {
                        #(#fields,)*
                        #hidden_doc
                        #krate::__private::BuiltOnlyInItsRegion,
                    });
                });
                quote! {
                    #derive
                    #(#attrs)*
                    #[repr(C #(#aligns)*)]
                    #vis #struct_token #ident #generics #body #where_clause;
                }
            }
        }
    }

    /// `Plain` and `PlainField` for the struct.
    ///
    /// The macro emits no `unsafe` itself: the `unsafe impl Plain` comes from
    /// siegel's `__siegel_impl_plain!`, every path of which goes through `$crate`,
    /// so `#[protected(crate = "...")]`, a local `mod siegel` or a shadowed `core`
    /// cannot redirect what justifies it (see its SAFETY comment). What it needs
    /// from here:
    ///
    /// - one `impl PlainFieldAt<I> for Struct { type Field = FieldTy; }` per
    ///   field, quoted on the field's span: siegel's trait bounds `Field` by
    ///   `PlainField`, so a field that is not plain data fails on the field with
    ///   that trait's note. It is one impl per field *type*, not a bound per
    ///   generic parameter: that is what the safety argument needs, it covers
    ///   `[u8; N]` under a const parameter, and it is checked where the struct is
    ///   defined (for every `N`);
    /// - the fields' names (or indices) in order, each with the index of its
    ///   `PlainFieldAt` impl, and the hidden field's name. The macro checks them
    ///   against the struct itself (an exhaustive `Self { .. }` pattern, field
    ///   types inferred from the struct, not from these tokens).
    ///
    /// If the crate path is redirected, the per-field impls are of the user's
    /// trait, and the macro's checks, on siegel's, fail.
    fn plain_impl(&self) -> TokenStream {
        let input = self.input;
        let krate = &input.krate;
        let ident = &input.original.ident;
        let generics = &input.original.generics;
        let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
        let allowed = allowed_lints();
        let per_field = input.fields.iter().enumerate().map(|(index, field)| {
            let ty = field.ty;
            let span = ty.span();
            let krate = located_at(krate.to_token_stream(), span);
            let index = syn::Index { index: u32::try_from(index).expect("checked in ast"), span };
            quote_spanned! {span=>
                #allowed
                #[automatically_derived]
                impl #impl_generics #krate::__private::PlainFieldAt<#index>
                    for #ident #ty_generics #where_clause
                {
                    type Field = #ty;
                }
            }
        });
        // The parameters without their defaults, which an impl cannot have.
        let (params, predicates) = self.bare_params();
        let members = input.fields.iter().map(|field| &field.member);
        let indices = (0..input.fields.len()).map(proc_macro2::Literal::usize_unsuffixed);
        let hidden = match input.style {
            Style::Named(_) => quote!(__siegel_in_place),
            Style::Tuple(_) => {
                proc_macro2::Literal::usize_unsuffixed(input.fields.len()).into_token_stream()
            }
        };
        // Spanned on the struct's name, so that what the macro reports (a `Drop`
        // impl on the struct) points at the struct.
        let span = ident.span();
        let path = located_at(quote!(#krate::__private::impl_plain), span);
        let call = quote_spanned! {span=>
            #path! {
                impl [#(#params),*] #ident #ty_generics where [#predicates];
                fields { #(#members: #indices),* };
                hidden: #hidden;
            }
        };
        quote! {
            #(#per_field)*

            #call

            #allowed
            #[automatically_derived]
            impl #impl_generics #krate::__private::PlainField for #ident #ty_generics
            #where_clause
            {}
        }
    }

    fn debug(&self) -> TokenStream {
        let input = self.input;
        let ident = &input.original.ident;
        let (impl_generics, ty_generics, where_clause) = input.original.generics.split_for_impl();
        let text = LitStr::new(&format!("{}([REDACTED])", ident.unraw()), Span::call_site());
        let allowed = allowed_lints();
        quote! {
            #allowed
            #[automatically_derived]
            impl #impl_generics ::core::fmt::Debug for #ident #ty_generics #where_clause {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::fmt::Formatter::write_str(f, #text)
                }
            }
        }
    }

    /// A getter per field, and a `_mut` accessor per field that is not frozen,
    /// with the struct's visibility, as the plan names them.
    fn accessors(&self) -> TokenStream {
        let input = self.input;
        let vis = &input.original.vis;
        let ident = &input.original.ident;
        let (impl_generics, ty_generics, where_clause) = input.original.generics.split_for_impl();
        let methods = input.fields.iter().zip(&self.plan.fields).filter_map(|(field, plan)| {
            let accessors = plan.accessors.as_ref()?;
            Some(Self::field_accessors(vis, field, accessors, input.fields.len()))
        });
        let allowed = allowed_lints();
        quote! {
            #allowed
            impl #impl_generics #ident #ty_generics #where_clause {
                #(#methods)*
            }
        }
    }

    fn field_accessors(
        vis: &syn::Visibility,
        field: &Field<'_>,
        accessors: &Accessors,
        count: usize,
    ) -> TokenStream {
        let (member, ty) = (&field.member, field.ty);
        let what = match member {
            Member::Named(ident) => format!("the `{}` field", ident.unraw()),
            Member::Unnamed(_) if count == 1 => "the wrapped value".to_owned(),
            Member::Unnamed(index) => format!("field `{}`", index.index),
        };
        let docs: Vec<_> = field.attrs.iter().filter(|attr| attr.path().is_ident("doc")).collect();
        let getter_doc = if docs.is_empty() {
            let text = format!(" {}{}.", what[..1].to_uppercase(), &what[1..]);
            quote!(#[doc = #text])
        } else {
            quote!(#(#docs)*)
        };
        let getter_note = if accessors.getter_mut.is_none() {
            " Readable in any read or write scope. The field is frozen: no accessor writes it \
             after initialisation."
        } else {
            " Readable in any read or write scope."
        };
        let getter = &accessors.getter;
        let getter = quote! {
            #getter_doc
            #[doc = ""]
            #[doc = #getter_note]
            #[inline]
            #[must_use]
            #vis const fn #getter(&self) -> &#ty {
                &self.#member
            }
        };
        let Some(getter_mut) = &accessors.getter_mut else {
            return getter;
        };
        let mut_doc = format!(
            " Mutable access to {what}: only in a write scope, since only a `WriteGuard` or a \
             `ReadWrite` handle gives `&mut Self`."
        );
        quote! {
            #getter
            #[doc = #mut_doc]
            #[inline]
            #vis const fn #getter_mut(&mut self) -> &mut #ty {
                &mut self.#member
            }
        }
    }

    fn constructors(&self) -> TokenStream {
        let input = self.input;
        let krate = &input.krate;
        let vis = &input.original.vis;
        let ident = &input.original.ident;
        let (impl_generics, ty_generics, where_clause) = input.original.generics.split_for_impl();
        let layout = (self.plan.layout == Some(LayoutCheck::Constructors)).then(|| {
            let tys = input.fields.iter().map(|field| field.ty);
            quote!(const { #krate::__private::assert_layout!(Self; #(#tys),*) };)
        });
        let name = ident.unraw();
        let zeroed_doc = format!(
            " Creates a `{name}` in a new protected region, all zero and sealed \
             (`NoAccess`)."
        );
        let with_doc = format!(
            " Creates a `{name}` in a new protected region and initialises it in place \
             with `init`, which gets `&mut {name}` (all zero at first) in a write scope, \
             so the secret never passes through the stack. The handle is sealed \
             (`NoAccess`) when it is returned."
        );
        let errors_doc = " As `siegel::Protected::zeroed_in`: the region could not be mapped, \
                          locked or protected. Use `siegel::Protected::zeroed_in` or `init_with_in` \
                          with `siegel::Options` or a `siegel::Pool` to choose where it goes.";
        // No field bounds: a field that is not plain fails in its `PlainFieldAt`
        // impl, which still exists for rustc, so `Self: Plain` holds here and the
        // error is not repeated.
        let allowed = allowed_lints();
        quote! {
            #allowed
            impl #impl_generics #ident #ty_generics #where_clause {
                #[doc = #zeroed_doc]
                #[doc = ""]
                #[doc = " # Errors"]
                #[doc = ""]
                #[doc = #errors_doc]
                #[inline]
                #vis fn protect_zeroed()
                    -> ::core::result::Result<#krate::Protected<Self>, #krate::Error>
                {
                    #layout
                    #krate::Protected::<Self>::zeroed_in(#krate::__private::Dedicated)
                }

                #[doc = #with_doc]
                #[doc = ""]
                #[doc = " # Errors"]
                #[doc = ""]
                #[doc = #errors_doc]
                #[inline]
                #vis fn protect_with(
                    init: impl ::core::ops::FnOnce(&mut Self),
                ) -> ::core::result::Result<#krate::Protected<Self>, #krate::Error> {
                    #layout
                    #krate::Protected::<Self>::init_with_in(#krate::__private::Dedicated, init)
                }
            }
        }
    }

    /// The layout check of a struct without generic parameters (the drop check
    /// comes with the `Plain` impl; a generic struct is checked in the
    /// constructors).
    fn layout_check(&self) -> TokenStream {
        if self.plan.layout != Some(LayoutCheck::Item) {
            return TokenStream::new();
        }
        let input = self.input;
        let krate = &input.krate;
        let ident = &input.original.ident;
        let allowed = allowed_lints();
        let tys = input.fields.iter().map(|field| field.ty);
        quote! {
            #allowed
            const _: () = #krate::__private::assert_layout!(#ident; #(#tys),*);
        }
    }
}

/// `tokens` shown at `span`: every token keeps where its names resolve (its
/// hygiene) and takes the location of `span`, so that errors point there.
fn located_at(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut moved = Group::new(group.delimiter(), located_at(group.stream(), span));
                moved.set_span(group.span().located_at(span));
                token = TokenTree::Group(moved);
            } else {
                token.set_span(token.span().located_at(span));
            }
            token
        })
        .collect()
}
