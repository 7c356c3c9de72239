// A shape the macro cannot handle: the error and the item alone, minus the field
// attributes the macro owns.

#[siegel::protected]
enum Key {
    A {
        #[protected(frozen)]
        bytes: [u8; 4],
    },
    B,
}
