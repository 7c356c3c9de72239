// A macro in a field's type: the checks see the expanded type (the `Plain` impl
// infers each field's type from the struct itself).
macro_rules! bytes {
    ($n:literal) => {
        [u8; $n]
    };
}

#[siegel::protected]
pub struct Key {
    bytes: bytes!(32),
}

#[siegel::protected]
pub struct Pair(bytes!(16), u64);

fn main() -> Result<(), siegel::Error> {
    let key = Key::protect_with(|k| k.bytes_mut()[31] = 1)?;
    assert_eq!(key.read()?.bytes()[31], 1);
    let pair = Pair::protect_zeroed()?;
    assert_eq!(pair.read()?._0().len(), 16);
    Ok(())
}
