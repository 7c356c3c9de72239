// An associated type hides the atomic from the name check; the checks see the
// normalised type.
pub trait Launder {
    type Out;
}
impl Launder for u8 {
    type Out = core::sync::atomic::AtomicU8;
}

#[siegel::protected]
struct Key {
    flag: <u8 as Launder>::Out,
}

fn main() {}
