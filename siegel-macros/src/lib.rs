//! Implementation detail of the `siegel` crate: use [`siegel::protected`].
//!
//! The expansion runs in four phases, one file each: [`attr`] parses the
//! `#[protected(...)]` arguments, [`ast`] builds a typed model of the struct,
//! [`valid`] applies the rules, and [`expand`] quotes the output (and, after an
//! error, a fallback that keeps follow-on errors down).
//!
//! [`siegel::protected`]: https://docs.rs/siegel/latest/siegel/attr.protected.html

#![forbid(unsafe_code)]

#[macro_use]
mod error;

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Puts a struct in protected memory only; see `siegel::protected` for the
/// documentation.
#[proc_macro_attribute]
pub fn protected(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::protected(args.into(), input.into()).into()
}
