// At most one write guard per handle.
#[siegel::protected]
struct Wallet {
    nonce: u64,
}

fn main() {
    let mut wallet = Wallet::protect_zeroed().unwrap();
    let mut first = wallet.write().unwrap();
    let mut second = wallet.write().unwrap();
    *first.nonce_mut() += 1;
    *second.nonce_mut() += 1;
}
