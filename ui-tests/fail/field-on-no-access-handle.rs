// A sealed (`NoAccess`) handle exposes no field, even where the field is visible.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let _ = wallet.seed[0];
}
