// A write scope on `Protected<str>` hands out `&mut str`: its bytes cannot be
// written as bytes (which could break UTF-8) without `unsafe`.
use siegel::Dedicated;
fn main() -> Result<(), siegel::Error> {
    let mut s = String::from("text");
    let mut secret = siegel::Protected::<str>::take_in(Dedicated, &mut s)?;
    let mut guard = secret.write()?;
    guard.as_bytes_mut()[0] = 0xff;
    Ok(())
}
