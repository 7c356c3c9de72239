// A one-time secret is consumed by `read_once`: a second read does not compile.
use siegel::Dedicated;
fn main() -> Result<(), siegel::Error> {
    let token = siegel::Protected::<[u8; 16]>::random_in(Dedicated)?;
    let first = token.read_once(|t| t[0]).map_err(siegel::Error::from)?;
    let again = token.read_once(|t| t[0]).map_err(siegel::Error::from)?;
    assert_eq!(first, again);
    Ok(())
}
