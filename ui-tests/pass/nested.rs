// A protected struct can be a field of another, alone or in an array.
#[siegel::protected]
pub struct Share {
    x: u8,
    y: [u8; 32],
}

#[siegel::protected]
pub struct Vault {
    master: Share,
    shares: [Share; 5],
    version: u32,
}

#[siegel::protected]
pub struct Bank {
    vaults: [Vault; 2],
}

fn main() -> Result<(), siegel::Error> {
    let mut vault = Vault::protect_with(|v| {
        *v.master_mut().x_mut() = 1;
        for (i, share) in v.shares_mut().iter_mut().enumerate() {
            *share.x_mut() = u8::try_from(i).unwrap() + 2;
            share.y_mut().fill(0xAA);
        }
    })?;
    {
        let v = vault.read()?;
        assert_eq!(*v.master().x(), 1);
        assert_eq!(*v.shares()[4].x(), 6);
        assert_eq!(v.shares()[0].y()[31], 0xAA);
        assert_eq!(format!("{:?}", v.master()), "Share([REDACTED])");
    }
    *vault.write()?.version_mut() = 2;

    let bank = Bank::protect_zeroed()?;
    assert_eq!(*bank.read()?.vaults()[1].shares()[2].x(), 0);
    assert!(core::mem::size_of::<Bank>() >= 2 * core::mem::size_of::<Vault>());
    Ok(())
}
