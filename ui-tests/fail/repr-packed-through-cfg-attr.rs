// `cfg_attr` hides `repr(packed)` from the macro; the generated checks still catch it.
#[siegel::protected]
#[cfg_attr(all(), repr(packed))]
struct Key {
    bytes: [u8; 31],
    counter: u64,
}

fn main() {}
