// `Permission` is sealed: no new permission state outside siegel.
enum Everything {}

impl siegel::Permission for Everything {}

fn main() {}
