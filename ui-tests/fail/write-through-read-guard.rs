// A read guard derefs to `&Wallet` only: the `_mut` accessors need `&mut Wallet`.
#[siegel::protected]
struct Wallet {
    nonce: u64,
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    *wallet.read().unwrap().nonce_mut() += 1;
}
