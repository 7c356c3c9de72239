// A `Text` only exists zeroed inside protected memory: no struct literal, no
// `Default`, no constructor.
fn main() {
    let _t = siegel::Text::<8> { len: 0, bytes: [0; 8] };
    let _d: siegel::Text<8> = Default::default();
}
