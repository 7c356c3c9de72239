// The struct cannot be moved or copied out of a guard as a whole.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let _copy: Wallet = *wallet.read().unwrap();
}
