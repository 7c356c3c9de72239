// An unsealed (`ReadOnly`) handle is `!Sync`: other threads may not read through it.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap().into_read_only().unwrap();
    let wallet = &wallet;
    std::thread::scope(|s| {
        s.spawn(move || wallet.seed()[0]);
    });
}
