//! A service's secrets, the way a user of `siegel-guard` writes them: `Text`
//! fields, a newtype key generated in place, a key file read through a
//! `Read`, and a JSON config deserialized into protected memory.

use serde::de::{Deserializer, MapAccess, Visitor};
use siegel::{protected, InPlace, Protected, Text};

/// Database credentials.
#[protected]
pub struct Credentials {
    user: Text<32>,
    password: Text<64>,
}

/// A signing key, a newtype.
#[protected]
pub struct SigningKey([u8; 32]);

/// Fills credentials that already sit in protected memory from a JSON object.
struct CredentialsVisitor<'a>(&'a mut Credentials);

impl<'de> Visitor<'de> for CredentialsVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object with `user` and `password`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "user" => map.next_value_seed(InPlace(self.0.user_mut()))?,
                "password" => map.next_value_seed(InPlace(self.0.password_mut()))?,
                _ => map.next_value::<serde::de::IgnoredAny>().map(drop)?,
            }
        }
        Ok(())
    }
}

/// Fills credentials that already sit in protected memory (inside a write
/// scope) from any self-describing format: each `Text` field is deserialized
/// in place.
pub fn fill_credentials<'de, D: Deserializer<'de>>(
    deserializer: D,
    credentials: &mut Credentials,
) -> Result<(), D::Error> {
    deserializer.deserialize_map(CredentialsVisitor(credentials))
}

/// A fresh signing key, generated in place.
pub fn new_signing_key() -> Result<Protected<SigningKey>, siegel::Error> {
    Protected::<SigningKey>::try_init_with(|k| siegel::fill_random(k.get_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_loads_its_secrets() -> Result<(), Box<dyn std::error::Error>> {
        // Text fields, from JSON, in place.
        let json = r#"{"user": "svc", "password": "pa55", "x": 1}"#;
        let creds = Protected::<Credentials>::try_init_with(|c| {
            let mut de = serde_json::Deserializer::from_str(json);
            Ok::<_, Box<dyn std::error::Error>>(fill_credentials(&mut de, c)?)
        })?;
        {
            let c = creds.read()?;
            assert_eq!(c.user().as_str(), "svc");
            assert!(c.password().ct_eq("pa55"));
        }

        // A newtype key generated in place, used once.
        let key = new_signing_key()?;
        let nonzero =
            key.read_once(|k| k.get().iter().any(|&b| b != 0)).map_err(siegel::Error::from)?;
        assert!(nonzero);

        // A key file through `Read`, and a token as text.
        let mut key_file: &[u8] = &[0xa5; 32];
        let file_key = Protected::<[u8; 32]>::read_exact_from(&mut key_file)?;
        assert_eq!(file_key.read()?[0], 0xa5);
        let token = Protected::<str>::read_from(&b"bearer-token"[..], 4096)?;
        assert!(token.ct_eq("bearer-token")?);

        // serde straight into protected forms.
        let api_key: Protected<[u8; 4]> = serde_json::from_str("[1, 2, 3, 4]")?;
        assert_eq!(*api_key.read()?, [1, 2, 3, 4]);
        let secret: Protected<str> = serde_json::from_str(r#""from-json""#)?;
        assert_eq!(&*secret.read()?, "from-json");

        // A random key and a Debug that redacts.
        let random = Protected::<[u8; 32]>::random()?;
        assert_eq!(format!("{random:?}"), "Protected<[u8; 32], NoAccess>([REDACTED])");
        Ok(())
    }
}
