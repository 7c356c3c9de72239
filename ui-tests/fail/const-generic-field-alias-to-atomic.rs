// A const generic struct whose field is an array of atomics behind an alias: the
// field is rejected where the struct is defined, not only where it is used.
type Counter = core::sync::atomic::AtomicU64;

#[siegel::protected]
struct Counters<const N: usize> {
    uses: [Counter; N],
}

fn main() {}
