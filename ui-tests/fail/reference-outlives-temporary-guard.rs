// A temporary guard closes at the end of the statement: the reference cannot be kept.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let seed = wallet.read().unwrap().seed();
    println!("{}", seed[0]);
}
