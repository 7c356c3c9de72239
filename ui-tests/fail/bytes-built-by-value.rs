// `Bytes` only exists zeroed inside protected memory: no `Default`, no `Clone`
// (the struct literal is `bytes-struct-literal.rs`).
use siegel::Dedicated;
fn main() -> Result<(), siegel::Error> {
    let _d: siegel::Bytes<8> = Default::default();
    let b = siegel::Protected::<siegel::Bytes<8>>::init_with_in(Dedicated, |b| b.try_set(b"pw"))?;
    let _c = (*b.read()?).clone();
    Ok(())
}
