// A #[protected] struct may hold `bool`s, `Text` lengths and other fields that
// not every bit pattern is valid for: it gets no `random()`. Fill its byte
// fields with `siegel::fill_random` instead.
use siegel::Dedicated;
#[siegel::protected]
struct Session {
    key: [u8; 32],
    active: bool,
}

fn main() {
    let _session = siegel::Protected::<Session>::random_in(Dedicated);
}
