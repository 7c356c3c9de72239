// Tuple structs: a newtype (`get`/`get_mut`) and a longer one (`_0`, `_1`).

#[siegel::protected]
pub struct Key([u8; 32]);

#[siegel::protected]
pub(crate) struct Session(
    /// The session key.
    [u8; 32],
    #[protected(frozen)] u64,
    pub u32,
);
