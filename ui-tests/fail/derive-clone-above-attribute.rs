// A derive written above #[protected] runs on the struct before the macro sees it,
// so the macro cannot reject it by name; the generated impl still cannot build the
// struct (the hidden field has no `Clone` and no public constructor).
#[derive(Clone)]
#[siegel::protected]
struct Key {
    bytes: [u8; 32],
}

fn main() {}
