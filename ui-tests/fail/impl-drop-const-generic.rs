// The same rule for a struct with a const parameter, caught by coherence.
#[siegel::protected]
struct Key<const N: usize> {
    bytes: [u8; N],
}

impl<const N: usize> Drop for Key<N> {
    fn drop(&mut self) {}
}

fn main() {}
