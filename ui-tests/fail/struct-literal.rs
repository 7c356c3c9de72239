// A protected struct cannot be built by a struct literal, not even in its own module.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
    nonce: u64,
}

fn main() {
    let _wallet = Wallet { seed: [0; 32], nonce: 0 };
}
