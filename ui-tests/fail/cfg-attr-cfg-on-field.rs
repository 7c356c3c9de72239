// `cfg_attr` reaches the macro unexpanded on fields: a `cfg` inside it is the
// same error as a `cfg` written directly.
#[siegel::protected]
struct Key {
    bytes: [u8; 32],
    #[cfg_attr(all(), cfg(any()))]
    extra: u64,
}

fn main() {}
