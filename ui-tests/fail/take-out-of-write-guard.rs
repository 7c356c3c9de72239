// A protected struct is not `Default`, so `mem::take` cannot move it out.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let mut wallet = Wallet::protect_zeroed().unwrap();
    let _copy = std::mem::take(&mut *wallet.write().unwrap());
}
