// Tuple structs: a newtype's field is `get()` / `get_mut()`, the fields of a
// longer tuple struct are `_0()` / `_0_mut()`, `_1()`, …; the checks, the
// constructors and the redacted `Debug` are those of a struct with named fields.
#![deny(warnings, missing_docs)]
//! Tuple structs.

use siegel::{protected, Protected};

/// A key.
#[protected]
pub struct Key([u8; 32]);

/// A key and a counter.
#[protected]
pub struct Pair(
    /// The key.
    [u8; 32],
    /// A public field: usable directly, under the same scopes.
    pub u64,
);

/// A length chosen by the type.
#[protected]
pub struct Sized<const N: usize>([u8; N]);

mod tagged {
    /// A key with a tag fixed when it is created.
    #[siegel::protected]
    pub struct Tagged(#[protected(frozen)] [u8; 4], [u8; 16]);

    impl Tagged {
        /// The only place where the frozen field is written.
        pub fn load(tag: [u8; 4]) -> Result<siegel::Protected<Self>, siegel::Error> {
            Self::protect_with(|t| {
                t.0 = tag;
                t._1_mut().fill(9);
            })
        }
    }
}

/// A newtype as a field of a struct with named fields.
#[protected]
pub struct Outer {
    key: Key,
    keys: [Key; 2],
}

fn main() -> Result<(), siegel::Error> {
    let mut key = Key::protect_with(|k| k.get_mut().fill(1))?;
    key.write()?.get_mut()[1] = 2;
    assert_eq!(key.read()?.get()[..3], [1, 2, 1]);
    assert_eq!(format!("{:?}", &*key.read()?), "Key([REDACTED])");

    let mut pair: Protected<Pair> = Pair::protect_zeroed()?;
    pair.write()?._0_mut()[0] = 3;
    *pair.write()?._1_mut() += 4;
    pair.write()?.1 += 1;
    assert_eq!((pair.read()?._0()[0], *pair.read()?._1(), pair.read()?.1), (3, 5, 5));

    let sized = Sized::<8>::protect_zeroed()?;
    assert_eq!(sized.read()?.get(), &[0; 8]);

    let tagged = tagged::Tagged::load(*b"tag0")?;
    assert_eq!((tagged.read()?._0(), tagged.read()?._1()[0]), (b"tag0", 9));

    let mut outer = Outer::protect_zeroed()?;
    outer.write()?.key_mut().get_mut()[0] = 7;
    outer.write()?.keys_mut()[1].get_mut()[31] = 8;
    let outer = outer.read()?;
    assert_eq!((outer.key().get()[0], outer.keys()[1].get()[31]), (7, 8));
    Ok(())
}
