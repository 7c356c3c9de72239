// A reference from a read scope cannot outlive the guard that keeps it open.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let seed = {
        let guard = wallet.read().unwrap();
        guard.seed()
    };
    println!("{}", seed[0]);
}
