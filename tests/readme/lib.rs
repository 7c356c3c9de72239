//! The workspace README's examples, compiled and run as doctests of the
//! (unpublished) root package.
#![doc = include_str!("../../README.md")]
