// No read scope while a write guard of the handle is alive.
#[siegel::protected]
struct Wallet {
    nonce: u64,
}

fn main() {
    let mut wallet = Wallet::protect_zeroed().unwrap();
    let mut writer = wallet.write().unwrap();
    println!("{}", wallet.read().unwrap().nonce());
    *writer.nonce_mut() += 1;
}
