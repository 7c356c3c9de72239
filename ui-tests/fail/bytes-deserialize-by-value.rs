// `Bytes` cannot be deserialized by value either, alone or inside a container
// (`Option`, `Vec`, `Box` all build it by value first).
fn main() {
    let _b: Option<siegel::Bytes<16>> = serde_json::from_str("[1, 2, 3]").unwrap();
    let _v: Vec<siegel::Bytes<16>> = serde_json::from_str("[[1, 2, 3]]").unwrap();
}
