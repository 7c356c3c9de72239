//! The trybuild proof suite of siegel: `fail/` holds one case per rule of the
//! typestate or of `#[protected]` that must not compile (with its blessed
//! message), `pass/` cases that must compile and run. The suite itself is the
//! `ui` test (`compiletest.rs`); this library is empty.
