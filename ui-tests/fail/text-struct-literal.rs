// `Text` has private fields: no struct literal builds one outside siegel.
// (On its own: rustc reports privacy only once type checking succeeded, so
// `text-built-by-value.rs` does not show this error.)
fn main() {
    let _t = siegel::Text::<8> { len: 0, bytes: [0; 8] };
}
