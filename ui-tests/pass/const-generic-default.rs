// A const parameter with a default and a where clause: the generated impls take
// the parameter without its default, and carry the where clause.
#[siegel::protected]
#[repr(align(64))]
pub struct Buffer<const N: usize = 32>
where
    [u8; N]: Sized,
{
    bytes: [u8; N],
    len: usize,
}

/// A tuple struct with the same shape.
#[siegel::protected]
pub struct Bytes<const N: usize = 8>([u8; N])
where
    [u8; N]: Sized;

fn main() -> Result<(), siegel::Error> {
    let mut buffer: siegel::Protected<Buffer> = Buffer::protect_zeroed()?;
    *buffer.write()?.len_mut() = 3;
    assert_eq!((buffer.read()?.bytes().len(), *buffer.read()?.len()), (32, 3));
    assert_eq!(core::mem::align_of::<Buffer<4>>(), 64);
    let bytes = Bytes::<16>::protect_with(|b| b.get_mut()[15] = 1)?;
    assert_eq!(bytes.read()?.get()[15], 1);
    let default: siegel::Protected<Bytes> = Bytes::protect_zeroed()?;
    assert_eq!(default.read()?.get().len(), 8);
    Ok(())
}
