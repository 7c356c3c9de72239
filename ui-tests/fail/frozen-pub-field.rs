#[siegel::protected]
pub struct Key {
    #[protected(frozen)]
    pub id: [u8; 16],
}

fn main() {}
