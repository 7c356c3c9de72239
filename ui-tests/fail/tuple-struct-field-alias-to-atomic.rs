// The fields of a tuple struct get the same checks as named ones.
type Counter = core::sync::atomic::AtomicU64;

#[siegel::protected]
struct Pair([u8; 32], Counter);

fn main() {}
