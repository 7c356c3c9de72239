// `Readable` is sealed (through `Permission`): `NoAccess` cannot be made readable.
struct Peek;

impl siegel::Readable for Peek {}

fn main() {}
