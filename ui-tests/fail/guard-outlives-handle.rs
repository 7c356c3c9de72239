// A guard cannot outlive the handle (and region) it opened.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let guard;
    {
        let wallet = Wallet::protect_zeroed().unwrap();
        guard = wallet.read().unwrap();
    }
    println!("{}", guard.seed()[0]);
}
