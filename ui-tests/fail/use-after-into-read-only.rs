// A by-value transition consumes the handle.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let open = wallet.into_read_only().unwrap();
    let _ = wallet.read();
    drop(open);
}
