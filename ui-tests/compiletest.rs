//! The trybuild proof suite: every file in `fail/` breaks one rule of the typestate
//! or of `#[protected]` and must not compile, with the blessed message; every file
//! in `pass/` must compile and run.
//!
//! The `.stderr` files are blessed with the stable toolchain CI uses (see
//! `rust-toolchain` in CI); other compilers word things differently. Regenerate
//! them with `TRYBUILD=overwrite cargo test --test ui`, never by hand.

#[cfg_attr(miri, ignore = "trybuild runs rustc, which Miri cannot")]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui-tests/fail/*.rs");
    t.pass("ui-tests/pass/*.rs");
}
