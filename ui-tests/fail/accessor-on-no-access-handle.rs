// A sealed (`NoAccess`) handle has no accessors: reading needs a scope.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let _ = wallet.seed();
}
