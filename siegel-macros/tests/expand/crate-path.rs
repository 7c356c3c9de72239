// `crate = "..."`: every path to the runtime crate comes from the argument (no
// `siegel` anywhere in the expansion).

#[renamed::protected(crate = "renamed")]
struct Key {
    r#type: u8,
    bytes: [u8; 32],
}
