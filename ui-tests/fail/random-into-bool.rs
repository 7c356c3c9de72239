// Random bytes never go into a type with invalid bit patterns: `bool` is 0 or 1.
use siegel::Dedicated;
fn main() {
    let _flag = siegel::Protected::<bool>::random_in(Dedicated);
}
