//! The trybuild proof suite: every file in `fail/` breaks one rule of the typestate
//! or of `#[protected]` and must not compile, with the blessed message; every file
//! in `pass/` must compile and run.
//!
//! The `.stderr` files are blessed with the stable toolchain CI uses (rustc
//! 1.95); other compilers word things differently. Regenerate them with
//! `TRYBUILD=overwrite cargo test -p siegel-ui-tests --test ui`, never by hand. Some quote lines of
//! siegel's own source (the sealed traits, the guards' definitions), so changing
//! those lines means blessing again.

#[cfg_attr(miri, ignore = "trybuild runs rustc, which Miri cannot")]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    t.pass("pass/*.rs");
}
