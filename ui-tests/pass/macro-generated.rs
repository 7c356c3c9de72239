// #[protected] applied by a declarative macro of the user's.
macro_rules! secret_bytes {
    ($name:ident, $len:expr) => {
        #[siegel::protected]
        pub struct $name {
            bytes: [u8; $len],
        }
    };
}

secret_bytes!(Key16, 16);
secret_bytes!(Key32, 32);

fn main() -> Result<(), siegel::Error> {
    let a = Key16::protect_zeroed()?;
    let b = Key32::protect_with(|k| k.bytes_mut()[31] = 1)?;
    assert_eq!(a.read()?.bytes().len() + usize::from(b.read()?.bytes()[31]), 17);
    Ok(())
}
