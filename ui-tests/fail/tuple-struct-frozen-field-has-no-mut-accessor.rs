mod credentials {
    #[siegel::protected]
    pub struct Tagged(#[protected(frozen)] [u8; 4], [u8; 16]);
}

fn main() -> Result<(), siegel::Error> {
    let tagged = credentials::Tagged::protect_zeroed()?;
    tagged.write()?._0_mut()[0] = 1;
    Ok(())
}
