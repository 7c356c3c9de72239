// A const generic struct with a default and a where clause: the layout is checked
// in the constructors, the impls take the parameters without their default.

#[siegel::protected]
#[repr(align(64))]
#[derive(zeroize::Zeroize)]
pub struct Buffer<const N: usize = 32>
where
    [u8; N]: Sized,
{
    bytes: [u8; N],
    len: usize,
}
