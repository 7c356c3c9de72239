// `Bytes` has private fields: no struct literal builds one outside siegel.
// (On its own: rustc reports privacy only once type checking succeeded.)
fn main() {
    let _l = siegel::Bytes::<8> { len: 0, bytes: [0; 8] };
}
