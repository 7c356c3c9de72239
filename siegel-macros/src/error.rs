//! Error helpers: every diagnostic is spanned on the offending tokens, lowercase,
//! without a final period, and names the fix.

use proc_macro2::TokenStream;
use quote::ToTokens;

/// `format_err!(tokens, "message {}", arg)`: a [`syn::Error`] spanned on `tokens`.
macro_rules! format_err {
    ($tokens:expr, $($msg:tt)+) => {
        ::syn::Error::new_spanned(&$tokens, ::std::format!($($msg)+))
    };
}

/// `tokens` as written in a message: `pub(crate)`, `a::b`, `Vec<u8>`.
pub(crate) fn tokens_to_string(tokens: &impl ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
}

/// Collects several errors so one expansion reports them all.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn into_error(self) -> Option<syn::Error> {
        self.0
    }
}

impl ToTokens for Errors {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        if let Some(error) = &self.0 {
            tokens.extend(error.to_compile_error());
        }
    }
}
