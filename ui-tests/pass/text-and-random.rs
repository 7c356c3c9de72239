// Text fields, a newtype key generated in place, text and byte secrets loaded
// from readers, one-time reads.
#![deny(warnings, missing_docs)]
//! Text and random secrets.

use siegel::{protected, Bytes, CtEq, Dedicated, Protected, Text};

/// A login form's secrets.
#[protected]
pub struct Login {
    user: Text<64>,
    password: Text<128>,
    otp: Bytes<20>,
}

/// A key.
#[protected]
pub struct Key([u8; 32]);

fn main() -> Result<(), siegel::Error> {
    let mut typed = String::from("pw");
    let login = Protected::<Login>::init_with_in(Dedicated, |l| {
        l.user_mut().try_set("alice")?;
        l.password_mut().set_from(&mut typed)?;
        siegel::fill_random(l.otp_mut().try_set_len(20)?)
    })?;
    assert!(login.read()?.password().ct_eq("pw"));
    let key = Protected::<Key>::init_with_in(Dedicated, |k| siegel::fill_random(k.get_mut()))?;
    let _first = key.read_once(|k| k.get()[0]).map_err(siegel::Error::from)?;
    let text: Protected<str> = Protected::<str>::read_from_in(Dedicated, &b"abc"[..], 16)?;
    let guard = text.read()?;
    let _as_str: &str = &guard;
    let _random = Protected::<[u64; 2]>::random_in(Dedicated)?;
    Ok(())
}
