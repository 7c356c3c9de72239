// An unsealed (`ReadOnly`) handle is `!Send`: it holds access open in this thread.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap().into_read_only().unwrap();
    std::thread::spawn(move || wallet.seed()[0]).join().unwrap();
}
