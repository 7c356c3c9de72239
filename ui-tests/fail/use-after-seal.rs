// `seal` consumes the open handle: it cannot be read through afterwards.
#[siegel::protected]
struct Wallet {
    seed: [u8; 32],
}

fn main() {
    let open = Wallet::protect_zeroed().unwrap().into_read_only().unwrap();
    let sealed = open.seal().unwrap();
    println!("{}", open.seed()[0]);
    drop(sealed);
}
