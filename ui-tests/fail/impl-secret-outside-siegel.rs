// `Secret` is sealed: only `Plain` values and slices of them can be protected.
struct Token(String);

impl siegel::Secret for Token {}

fn main() {}
