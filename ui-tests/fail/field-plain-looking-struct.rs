// An ordinary struct is not known to be plain data: make it #[protected] too.
struct Inner {
    bytes: [u8; 32],
}

#[siegel::protected]
struct Key {
    inner: Inner,
}

fn main() {}
