// Even where the field itself is visible, a read guard cannot assign it.
#[siegel::protected]
struct Wallet {
    nonce: u64,
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    wallet.read().unwrap().nonce = 1;
}
