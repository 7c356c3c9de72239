// `cfg_attr` hides the derive from the check on derives; the hidden field, which
// is not `Clone`, still stops it.
#[siegel::protected]
#[cfg_attr(all(), derive(Clone, Copy))]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
