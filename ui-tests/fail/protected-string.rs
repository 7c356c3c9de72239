// `Protected<String>` would keep only the `String`'s pointer in protected memory:
// the error says so and names `Protected<str>`.
use siegel::Dedicated;
use siegel::Protected;

fn main() {
    let _ = Protected::<String>::zeroed_in(Dedicated);
}
