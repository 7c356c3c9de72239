// No conversion builds a `Text` or `Bytes` from a value: they are filled in
// place with `try_set` inside a write scope.
fn main() {
    let _t: siegel::Text<8> = "hunter2".into();
    let _b = siegel::Bytes::<8>::try_from(&b"hunter2"[..]);
}
