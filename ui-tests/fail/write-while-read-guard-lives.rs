// A write scope needs `&mut self`: no read guard of the handle may be alive.
#[siegel::protected]
struct Wallet {
    nonce: u64,
}

fn main() {
    let mut wallet = Wallet::protect_zeroed().unwrap();
    let reader = wallet.read().unwrap();
    *wallet.write().unwrap().nonce_mut() += 1;
    println!("{}", reader.nonce());
}
