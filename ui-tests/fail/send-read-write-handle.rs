// An unsealed (`ReadWrite`) handle is `!Send`.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let mut wallet = Wallet::protect_zeroed().unwrap().into_read_write().unwrap();
    std::thread::spawn(move || wallet.seed_mut()[0] = 1).join().unwrap();
}
