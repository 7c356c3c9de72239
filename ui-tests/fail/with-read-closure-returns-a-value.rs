// `with_read` is for a closure that can fail (#28 item 5): one returning a
// plain value is refused, and the error says a `Result` is expected. For a
// value, read through the guard: `key.read()?[0]`.
use siegel::Dedicated;
use siegel::Protected;

fn main() -> Result<(), siegel::Error> {
    let key = Protected::<[u8; 4]>::zeroed_in(Dedicated)?;
    let first: u8 = key.with_read(|k| k[0])?;
    assert_eq!(first, 0);
    Ok(())
}
