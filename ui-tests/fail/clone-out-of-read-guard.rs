// A protected struct is not `Clone`: no copy of the secret outside its region.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let _copy = Wallet::clone(&wallet.read().unwrap());
}
