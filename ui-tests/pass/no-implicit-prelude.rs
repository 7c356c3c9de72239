// Hygiene: the expansion names everything by absolute path.
#![no_implicit_prelude]

extern crate serde_json;
extern crate siegel;
extern crate std;

#[siegel::protected]
pub struct Key {
    bytes: [u8; 32],
    #[protected(frozen)]
    id: u64,
}

#[siegel::protected]
pub struct Sized<const N: usize> {
    bytes: [u8; N],
}

#[siegel::protected]
pub struct Pair([u8; 16], #[protected(frozen)] u64);

#[siegel::protected(deserialize)]
pub struct Config<const N: usize> {
    key: [u8; N],
    name: siegel::Text<8>,
}

#[siegel::protected(deserialize)]
pub struct Token([u8; 2]);

// Names the prelude would otherwise provide, shadowed by local items.
pub struct Result;
pub struct Option;
pub trait FnOnce {}
pub trait Drop {}

fn main() {
    let key = Key::protect_with(|k| k.bytes_mut()[0] = 1).unwrap();
    std::assert_eq!(key.read().unwrap().bytes()[0], 1);
    std::assert_eq!(*key.read().unwrap().id(), 0);
    let sized = Sized::<4>::protect_zeroed().unwrap();
    std::assert_eq!(sized.read().unwrap().bytes(), &[0; 4]);
    let pair = Pair::protect_with(|p| p._0_mut()[0] = 2).unwrap();
    std::assert_eq!((pair.read().unwrap()._0()[0], *pair.read().unwrap()._1()), (2, 0));
    let config: siegel::Protected<Config<2>> =
        serde_json::from_str(r#"{"key": [1, 2], "name": "n"}"#).unwrap();
    std::assert_eq!(config.read().unwrap().key(), &[1, 2]);
    let token: siegel::Protected<Token> = serde_json::from_str("[3, 4]").unwrap();
    std::assert_eq!(token.read().unwrap().get(), &[3, 4]);
}
