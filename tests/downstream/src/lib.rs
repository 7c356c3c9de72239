//! A service's secrets, the way a user of `siegel-guard` writes them: `Text`
//! fields, a newtype key generated in place, a key file read through a
//! `Read`, and a JSON config deserialized into protected memory in one call.

use serde::de::Deserializer;
use siegel::{protected, Dedicated, DeserializeInPlace, Protected, Text};

/// Database credentials, deserialized straight into protected memory.
#[protected(deserialize)]
pub struct Credentials {
    user: Text<32>,
    password: Text<64>,
}

/// A signing key, a newtype.
#[protected]
pub struct SigningKey([u8; 32]);

/// Refills credentials that already sit in protected memory (inside a write
/// scope) from any self-describing format, in place.
pub fn fill_credentials<'de, D: Deserializer<'de>>(
    deserializer: D,
    credentials: &mut Credentials,
) -> Result<(), D::Error> {
    Credentials::deserialize_in_place(deserializer, credentials)
}

/// A fresh signing key, generated in place.
pub fn new_signing_key() -> Result<Protected<SigningKey>, siegel::Error> {
    Protected::<SigningKey>::init_with_in(Dedicated, |k| siegel::fill_random(k.get_mut()))
}

#[cfg(test)]
mod tests {
    use siegel::CtEq;

    use super::*;

    #[test]
    fn a_service_loads_its_secrets() -> Result<(), Box<dyn std::error::Error>> {
        // A struct of secrets, from JSON, in one call.
        let json = r#"{"user": "svc", "password": "pa55", "x": 1}"#;
        let mut creds: Protected<Credentials> = serde_json::from_str(json)?;
        {
            let c = creds.read()?;
            assert_eq!(c.user().as_str(), "svc");
            assert!(c.password().ct_eq("pa55"));
        }
        // And refilled in place, in a write scope.
        let json = r#"{"user": "svc2", "password": "rotated"}"#;
        fill_credentials(&mut serde_json::Deserializer::from_str(json), &mut *creds.write()?)?;
        assert!(creds.read()?.password().ct_eq("rotated"));

        // A newtype key generated in place, used once.
        let key = new_signing_key()?;
        let nonzero =
            key.read_once(|k| k.get().iter().any(|&b| b != 0)).map_err(siegel::Error::from)?;
        assert!(nonzero);

        // A key file through `Read`, and a token as text.
        let mut key_file: &[u8] = &[0xa5; 32];
        let file_key = Protected::<[u8; 32]>::read_exact_from_in(Dedicated, &mut key_file)?;
        assert_eq!(file_key.read()?[0], 0xa5);
        let token = Protected::<str>::read_from_in(Dedicated, &b"bearer-token"[..], 4096)?;
        assert!(token.read()?.ct_eq("bearer-token"));

        // serde straight into protected forms.
        let api_key: Protected<[u8; 4]> = serde_json::from_str("[1, 2, 3, 4]")?;
        assert_eq!(*api_key.read()?, [1, 2, 3, 4]);
        let secret: Protected<str> = serde_json::from_str(r#""from-json""#)?;
        assert_eq!(&*secret.read()?, "from-json");

        // A random key and a Debug that redacts.
        let random = Protected::<[u8; 32]>::random_in(Dedicated)?;
        assert_eq!(format!("{random:?}"), "Protected<[u8; 32], NoAccess>([REDACTED])");
        Ok(())
    }
}
