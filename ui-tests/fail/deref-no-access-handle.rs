// A sealed (`NoAccess`) handle does not deref to the secret.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let _: &Wallet = &*wallet;
}
