// A `Text` field of an ordinary `#[derive(Deserialize)]` struct would be built
// on the stack with it: the struct must be a `#[protected(deserialize)]` one.
#[derive(serde::Deserialize)]
struct Config {
    password: siegel::Text<32>,
}

fn main() {
    let _c: Config = serde_json::from_str(r#"{"password": "hunter2"}"#).unwrap();
}
