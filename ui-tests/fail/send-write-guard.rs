// A write guard is `!Send`.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let mut wallet = Wallet::protect_zeroed().unwrap();
    let mut guard = wallet.write().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || guard.seed_mut()[0] = 1);
    });
}
