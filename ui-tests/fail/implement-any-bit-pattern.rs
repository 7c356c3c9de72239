// `AnyBitPattern` is sealed: a user type cannot claim that random bytes are
// valid for it.
struct Flag(bool);

unsafe impl siegel::AnyBitPattern for Flag {}

fn main() {}
