// A `Text` cannot be deserialized by value: it would be built on the stack,
// outside protected memory, and moved without being wiped.
fn main() {
    let _t: siegel::Text<8> = serde_json::from_str(r#""hunter2""#).unwrap();
}
