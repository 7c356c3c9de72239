// A hand-written `Copy` impl is rejected too: the hidden field is not `Copy`.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

impl Clone for Wallet {
    fn clone(&self) -> Self {
        *self
    }
}

impl Copy for Wallet {}

fn main() {}
