//! Implementation detail of the `siegel` crate: use `siegel::protected`.

#![forbid(unsafe_code)]

use proc_macro::TokenStream;

/// Placeholder for `#[protected]`; see the `siegel` crate documentation.
#[proc_macro_attribute]
pub fn protected(_args: TokenStream, input: TokenStream) -> TokenStream {
    let mut out: proc_macro2::TokenStream = quote::quote! {
        ::core::compile_error!("#[protected] is not implemented yet");
    };
    out.extend(proc_macro2::TokenStream::from(input));
    out.into()
}
