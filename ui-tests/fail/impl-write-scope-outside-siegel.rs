// `WriteScope` is sealed (through `Permission`).
struct Scribble;

impl siegel::WriteScope for Scribble {}

fn main() {}
