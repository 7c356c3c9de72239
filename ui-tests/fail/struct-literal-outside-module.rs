// With every declared field public, another module still cannot write a literal.
mod keys {
    #[siegel::protected]
    pub struct Wallet {
        pub seed: [u8; 32],
    }
}

fn main() {
    let _wallet = keys::Wallet { seed: [0; 32] };
}
