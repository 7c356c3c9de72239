// #28 items 4 and 5: a closure that can fail takes one `?` (`with_read`,
// `with_write` and `try_init_with` return the closure's own `Result<R, E>`,
// `E: From<siegel::Error>`), and the field loaders (`siegel::Load`) fill a
// `#[protected]` struct in place.
use siegel::{protected, Bytes, CtEq, Dedicated, Load, Protected, Text};

#[protected]
struct Service {
    api_token: Text<64>,
    hmac_key: [u8; 4],
    salt: Bytes<8>,
}

#[derive(Debug)]
enum AppError {
    Siegel(siegel::Error),
    Parse(std::num::ParseIntError),
}

impl From<siegel::Error> for AppError {
    fn from(e: siegel::Error) -> Self {
        Self::Siegel(e)
    }
}

impl From<std::num::ParseIntError> for AppError {
    fn from(e: std::num::ParseIntError) -> Self {
        Self::Parse(e)
    }
}

fn port(service: &Protected<Service>) -> Result<u16, AppError> {
    // The closure's error is the caller's: one `?` inside, none doubled outside.
    service.with_read(|s| Ok(s.api_token().as_str().len().to_string().parse::<u16>()?))
}

fn main() -> Result<(), AppError> {
    std::env::set_var("UI_API_TOKEN", "bearer 1");
    // Ends with a siegel call: `E` is `siegel::Error`, no annotation.
    let mut service = Protected::<Service>::init_with_in(Dedicated, |s| {
        s.api_token_mut().load_env("UI_API_TOKEN")?;
        s.hmac_key_mut().load_hex("00ff10aa")?;
        s.salt_mut().load_from(&b"salt"[..])
    })?;
    // Ends with `Ok(())` after `?`s: name the error once.
    let other = Protected::<[u8; 4]>::init_with_in(Dedicated, |k| {
        k.load_hex("01020304")?;
        Ok::<(), siegel::Error>(())
    })?;
    service.with_write(|s| siegel::fill_random(s.hmac_key_mut()))?;
    service.with_write(|s| s.salt_mut().load_hex("0102"))?;
    assert_eq!(port(&service)?, 8);
    assert!(service.read()?.salt().ct_eq(&[1, 2]));
    assert!(other.read()?.ct_eq(&[1, 2, 3, 4]));
    // A guard of `[u8; N]` hands a crate that takes `&[u8]` a slice: `[..]`.
    assert_eq!(u32::from_be_bytes(other.read()?[..].try_into().unwrap_or_default()), 0x0102_0304);
    Ok(())
}
