// Arrays of every plain element type, nested arrays, and a const parameter.
#[siegel::protected]
pub struct Material {
    key: [u8; 32],
    round_keys: [[u32; 4]; 15],
    weights: [f64; 3],
    flags: [bool; 8],
    signed: [i128; 2],
    word: usize,
    empty: [u64; 0],
}

#[siegel::protected]
pub struct Buffer<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

#[siegel::protected]
pub struct Pair<const N: usize, const M: usize>
where
    [u8; N]: Sized,
{
    left: [u8; N],
    right: [[u16; M]; 2],
}

fn main() -> Result<(), siegel::Error> {
    let mut m = Material::protect_zeroed()?;
    m.write()?.round_keys_mut()[14][3] = 7;
    assert_eq!(m.read()?.round_keys()[14][3], 7);
    assert!(!m.read()?.flags()[0]);
    assert_eq!(m.read()?.empty().len(), 0);

    let b = Buffer::<48>::protect_with(|b| {
        b.bytes_mut()[..5].copy_from_slice(b"hello");
        *b.len_mut() = 5;
    })?;
    let guard = b.read()?;
    assert_eq!(&guard.bytes()[..*guard.len()], b"hello");
    assert_eq!(format!("{:?}", &*guard), "Buffer([REDACTED])");

    let p = Pair::<3, 2>::protect_zeroed()?;
    assert_eq!(p.read()?.right()[1][1], 0);
    assert_eq!(p.read()?.left().len(), 3);
    Ok(())
}
