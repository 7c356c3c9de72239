// A read guard is `!Send`: under protection keys the access lives in this thread's PKRU.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let wallet = Wallet::protect_zeroed().unwrap();
    let guard = wallet.read().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || guard.seed()[0]);
    });
}
