// The struct cannot be moved out of an open handle either.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap().into_read_write().unwrap();
    let _copy: Wallet = *wallet;
}
