// Outside its module a frozen (and therefore private) field cannot be assigned.
mod keys {
    #[siegel::protected]
    pub struct ApiKey {
        #[protected(frozen)]
        id: [u8; 16],
    }
}

fn main() {
    let mut key = keys::ApiKey::protect_zeroed().unwrap();
    key.write().unwrap().id = [1; 16];
}
