// A `#[protected(frozen)]` field has a getter but no `_mut` accessor.
mod keys {
    #[siegel::protected]
    pub struct ApiKey {
        #[protected(frozen)]
        id: [u8; 16],
        secret: [u8; 32],
    }
}

fn main() {
    let mut key = keys::ApiKey::protect_zeroed().unwrap();
    key.write().unwrap().id_mut()[0] = 1;
}
