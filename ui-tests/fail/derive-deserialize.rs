// `#[derive(Deserialize)]` below `#[protected]` would build the struct by value;
// the macro sees it and names `#[protected(deserialize)]`.
#[siegel::protected]
#[derive(serde::Deserialize)]
struct Config {
    password: siegel::Text<32>,
    port: u16,
}

fn main() {
    // No follow-on error: the macro gives the in-place form it meant.
    let _config: siegel::Protected<Config> =
        serde_json::from_str(r#"{"password": "pw", "port": 1}"#).unwrap();
}
