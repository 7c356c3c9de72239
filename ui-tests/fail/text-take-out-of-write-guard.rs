// A `Text` is not `Default`, so `mem::take` cannot move it out of a write scope.
use siegel::Dedicated;
fn main() -> Result<(), siegel::Error> {
    let mut t = siegel::Protected::<siegel::Text<8>>::init_with_in(Dedicated, |t| t.try_set("pw"))?;
    let _moved = std::mem::take(&mut *t.write()?);
    Ok(())
}
