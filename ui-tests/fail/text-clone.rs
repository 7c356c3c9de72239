// A `Text` read out of a guard cannot be cloned or copied into unprotected
// memory.
use siegel::Dedicated;
fn main() -> Result<(), siegel::Error> {
    let t = siegel::Protected::<siegel::Text<8>>::init_with_in(Dedicated, |t| t.try_set("pw"))?;
    let guard = t.read()?;
    let _copy: siegel::Text<8> = (*guard).clone();
    Ok(())
}
