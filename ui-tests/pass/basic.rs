// The whole life of a protected struct: created in place, read and written in
// scopes, opened and sealed by value, printed redacted.
use siegel::{NoAccess, Protected, ReadOnly, ReadWrite};

#[siegel::protected]
pub struct Wallet {
    seed: [u8; 64],
    nonce: u64,
}

fn main() -> Result<(), siegel::Error> {
    let mut wallet: Protected<Wallet, NoAccess> =
        Wallet::protect_with(|w| w.seed_mut().copy_from_slice(&[7; 64]))?;
    assert_eq!(wallet.read()?.seed()[63], 7);
    *wallet.write()?.nonce_mut() += 1;
    // A closure that can fail: one `?` for the scope and the closure alike.
    wallet.with_write(|w| {
        *w.nonce_mut() += 1;
        siegel::fill_random(w.seed_mut())
    })?;
    assert_eq!(*wallet.read()?.nonce(), 2);

    // Several read guards at once.
    let (a, b) = (wallet.read()?, wallet.read()?);
    assert_eq!(a.seed(), b.seed());
    drop((a, b));

    let open: Protected<Wallet, ReadOnly> = wallet.into_read_only().map_err(|e| e.into_parts().0)?;
    assert_eq!(*open.nonce(), 2);
    let mut open: Protected<Wallet, ReadWrite> =
        open.into_read_write().map_err(|e| e.into_parts().0)?;
    open.seed_mut()[0] = 1;
    *open.write()?.nonce_mut() = 3;
    let wallet = open.seal().map_err(|e| e.into_parts().0)?;

    assert_eq!(format!("{:?}", &*wallet.read()?), "Wallet([REDACTED])");
    let zeroed = Wallet::protect_zeroed()?;
    assert_eq!(*zeroed.read()?.nonce(), 0);
    Ok(())
}
