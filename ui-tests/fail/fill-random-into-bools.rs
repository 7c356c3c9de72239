// `fill_random` takes integers and arrays or slices of them, not `bool`s.
fn main() {
    let mut flags = [false; 8];
    let _ = siegel::fill_random(&mut flags);
}
