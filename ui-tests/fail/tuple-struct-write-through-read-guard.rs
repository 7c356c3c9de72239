#[siegel::protected]
struct Key([u8; 32]);

fn main() -> Result<(), siegel::Error> {
    let key = Key::protect_zeroed()?;
    key.read()?.get_mut()[0] = 1;
    Ok(())
}
