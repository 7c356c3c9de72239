// A region is wiped, never dropped: the struct must not implement `Drop`.
#[siegel::protected]
struct Key {
    bytes: [u8; 32],
}

impl Drop for Key {
    fn drop(&mut self) {}
}

fn main() {}
