// A `ReadOnly` handle derefs to `&Wallet` only.
#[siegel::protected]
struct Wallet {
    nonce: u64,
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap().into_read_only().unwrap();
    *wallet.nonce_mut() = 1;
}
