// A `ReadOnly` handle cannot open a write scope: it must change state first.
#[siegel::protected]
struct Wallet {
    nonce: u64,
}

fn main() {
    let mut wallet = Wallet::protect_zeroed().unwrap().into_read_only().unwrap();
    *wallet.write().unwrap().nonce_mut() = 1;
}
