// In-place deserialization can run in any write scope, so it would write a
// frozen field after initialisation.
#[siegel::protected(deserialize)]
struct ApiKey {
    #[protected(frozen)]
    id: [u8; 8],
    secret: [u8; 32],
}

fn main() {}
