// A sealed slice handle cannot be indexed without a scope.
use siegel::Dedicated;
fn main() {
    let secret = siegel::Protected::<[u8]>::zeroed_slice_in(Dedicated, 16).unwrap();
    let _ = secret[0];
}
