// `#[protected(deserialize)]`: the in-place deserialization impls, through
// siegel's `with_serde!`, one in-place call per field spanned on its type; a
// newtype is its field's value.

#[siegel::protected(deserialize)]
pub struct Config {
    password: siegel::Text<64>,
    port: u16,
}

#[siegel::protected(deserialize)]
pub struct Key<const N: usize>([u8; N]);
