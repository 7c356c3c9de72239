// The handle cannot be dropped (unmapping the region) while a guard is open.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let guard = wallet.read().unwrap();
    drop(wallet);
    println!("{}", guard.seed()[0]);
}
