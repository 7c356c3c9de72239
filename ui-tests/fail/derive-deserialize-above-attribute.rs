// `#[derive(Deserialize)]` above `#[protected]` runs first, on the struct as
// written: serde's impl would build it by value (and misses the hidden field).
// The check `#[protected]` emits names `#[protected(deserialize)]`.
#[derive(serde::Deserialize)]
#[siegel::protected]
struct Config {
    key: [u8; 32],
    port: u16,
}

fn main() {}
