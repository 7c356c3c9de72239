//! `serde` support (feature `serde`): deserializing straight into protected
//! memory, and serializing only what opts in.
//!
//! # Deserialize
//!
//! `Protected<[u8; N]>`, `Protected<[u8]>`, `Protected<str>`,
//! `Protected<Text<N>>`, `Protected<Bytes<N>>` (dedicated regions with
//! [`Options::default`](crate::Options)), and [`Text<N>`] / [`Bytes<N>`]
//! themselves, in place through [`InPlace`] (or `Deserialize::deserialize_in_place`).
//!
//! Where the format lends its own buffer (`visit_str`, `visit_bytes`, the
//! borrowed forms) the bytes are copied from it straight into the region. Where
//! it hands over an owned `String` or `Vec<u8>` (`visit_string`,
//! `visit_byte_buf`), that buffer is wiped once copied. Sequences of numbers are
//! written into the region element by element. The deserializer's own input and
//! scratch buffers (`serde_json` unescapes into one) are outside siegel's reach.
//!
//! Error messages never quote the input: serde's defaults would
//! (`invalid type: string "hunter2"`), so every visitor method that sees content
//! is implemented here.
//!
//! A `#[protected]` struct cannot be built by value, so it cannot implement
//! `Deserialize::deserialize`. Deserialize its fields in place inside a write
//! scope instead: a map visitor that calls `map.next_value_seed(InPlace(field))`
//! for each key (see [`InPlace`]).
//!
//! # Serialize
//!
//! Only for `Protected<T, P>` whose `T` opts in with [`SerializableSecret`]
//! (the stance of the `secrecy` crate): writing a secret out should be a
//! decision, not an accident of `#[derive(Serialize)]` on a config struct.

use core::fmt;

use serde::{
    de::{self, DeserializeSeed, SeqAccess, Visitor},
    Deserialize, Deserializer, Serialize, Serializer,
};

use crate::{
    load::{copy_slice, into_text, Grower},
    protected::{Home, Secret},
    text::{Bytes, Text},
    wipe::{wipe_string, wipe_vec},
    Error, Options, Permission, Protected,
};

/// A serde error carrying a siegel [`Error`] (whose message quotes no secret).
fn custom<E: de::Error>(error: Error) -> E {
    E::custom(error)
}

/// An error for input of the wrong type, naming the type but not the content.
fn wrong_type<E: de::Error>(what: &str, expected: &dyn de::Expected) -> E {
    E::custom(format_args!("invalid type: {what}, expected {expected}"))
}

/// Opts a secret's type into `Serialize` for `Protected<T, P>`.
///
/// The serializer receives the secret inside a read scope and writes it where
/// it writes (a `String`, a file): outside protected memory, by design.
///
/// # Examples
///
/// ```
/// use serde::{Serialize, Serializer};
/// use siegel::{protected, Protected, SerializableSecret};
///
/// #[protected]
/// struct ApiKey([u8; 4]);
///
/// impl Serialize for ApiKey {
///     fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
///         self.get().serialize(s)
///     }
/// }
/// impl SerializableSecret for ApiKey {}
///
/// let key = Protected::<ApiKey>::init_with(|k| k.get_mut().fill(1))?;
/// assert_eq!(serde_json::to_string(&key).unwrap(), "[1,1,1,1]");
/// # Ok::<(), siegel::Error>(())
/// ```
pub trait SerializableSecret: Serialize {}

impl<T, P> Serialize for Protected<T, P>
where
    T: ?Sized + Secret + SerializableSecret,
    P: Permission,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let guard = self.read().map_err(serde::ser::Error::custom)?;
        (*guard).serialize(serializer)
    }
}

/// Deserializes a `T` in place, into the `&mut T` it holds: a
/// [`DeserializeSeed`] that calls `T::deserialize_in_place`. For [`Text`] and
/// [`Bytes`] fields of a `#[protected]` struct, inside a write scope.
///
/// # Examples
///
/// ```
/// use serde::de::{Deserializer as _, MapAccess, Visitor};
/// use siegel::{protected, InPlace, Protected, Text};
///
/// #[protected]
/// struct Login {
///     user: Text<32>,
///     password: Text<64>,
/// }
///
/// /// Fills a `Login` that already sits in protected memory.
/// struct LoginVisitor<'a>(&'a mut Login);
///
/// impl<'de> Visitor<'de> for LoginVisitor<'_> {
///     type Value = ();
///     fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("a login")
///     }
///     fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
///         while let Some(key) = map.next_key::<&str>()? {
///             match key {
///                 "user" => map.next_value_seed(InPlace(self.0.user_mut()))?,
///                 "password" => map.next_value_seed(InPlace(self.0.password_mut()))?,
///                 _ => map.next_value::<serde::de::IgnoredAny>().map(drop)?,
///             }
///         }
///         Ok(())
///     }
/// }
///
/// let json = r#"{"user": "alice", "password": "correct horse"}"#;
/// let login = Protected::<Login>::try_init_with(|l| {
///     let mut de = serde_json::Deserializer::from_str(json);
///     Ok::<_, Box<dyn std::error::Error>>(de.deserialize_map(LoginVisitor(l))?)
/// })?;
/// assert!(login.read()?.password().ct_eq("correct horse"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct InPlace<'a, T>(pub &'a mut T);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for InPlace<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        T::deserialize_in_place(deserializer, self.0)
    }
}

/// Fills a [`Text`] in place from a string.
struct TextVisitor<'a, const N: usize>(&'a mut Text<N>);

impl<const N: usize> TextVisitor<'_, N> {
    fn set<E: de::Error>(self, text: &str) -> Result<(), E> {
        self.0.try_set(text).map_err(custom)
    }
}

impl<'de, const N: usize> Visitor<'de> for TextVisitor<'_, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string of at most {N} bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.set(v)
    }

    fn visit_string<E: de::Error>(self, mut v: String) -> Result<(), E> {
        let result = self.set(&v);
        wipe_string(&mut v);
        result
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.0.try_set_utf8(v).map_err(custom)
    }

    fn visit_byte_buf<E: de::Error>(self, mut v: Vec<u8>) -> Result<(), E> {
        let result = self.visit_bytes(&v);
        wipe_vec(&mut v);
        result
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<(), E> {
        self.0.clear();
        self.0.try_push(v).map_err(custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<(), A::Error> {
        Err(wrong_type("sequence", &self))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Text<N> {
    /// Deserializes by value: the `Text` is built on the stack and moved, like any
    /// value, and those copies are not wiped. Prefer `Protected<Text<N>>`, or
    /// [`InPlace`] into a field inside a write scope.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut text = Self::empty();
        deserializer.deserialize_str(TextVisitor(&mut text))?;
        Ok(text)
    }

    fn deserialize_in_place<D: Deserializer<'de>>(
        deserializer: D,
        place: &mut Self,
    ) -> Result<(), D::Error> {
        deserializer.deserialize_str(TextVisitor(place))
    }
}

/// Fills a [`Bytes`] in place from bytes or a sequence of `u8`.
struct BytesVisitor<'a, const N: usize>(&'a mut Bytes<N>);

impl<'de, const N: usize> Visitor<'de> for BytesVisitor<'_, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {N} bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.0.try_set(v).map_err(custom)
    }

    fn visit_byte_buf<E: de::Error>(self, mut v: Vec<u8>) -> Result<(), E> {
        let result = self.visit_bytes(&v);
        wipe_vec(&mut v);
        result
    }

    fn visit_str<E: de::Error>(self, _v: &str) -> Result<(), E> {
        Err(wrong_type("string", &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.clear();
        while let Some(byte) = seq.next_element::<u8>()? {
            if let Err(error) = self.0.try_extend_from_slice(&[byte]) {
                self.0.clear();
                return Err(custom(error));
            }
        }
        Ok(())
    }
}

impl<'de, const N: usize> Deserialize<'de> for Bytes<N> {
    /// Deserializes by value (see [`Text`]'s caveat); prefer
    /// `Protected<Bytes<N>>` or [`InPlace`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut bytes = Self::empty();
        deserializer.deserialize_bytes(BytesVisitor(&mut bytes))?;
        Ok(bytes)
    }

    fn deserialize_in_place<D: Deserializer<'de>>(
        deserializer: D,
        place: &mut Self,
    ) -> Result<(), D::Error> {
        deserializer.deserialize_bytes(BytesVisitor(place))
    }
}

/// `Protected<Text<N>>` and `Protected<Bytes<N>>`: a zeroed region, filled in
/// place in a write scope.
macro_rules! protected_inline {
    ($ty:ident) => {
        impl<'de, const N: usize> Deserialize<'de> for Protected<$ty<N>> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let mut handle = Protected::<$ty<N>>::zeroed().map_err(custom)?;
                let mut guard = handle.write().map_err(custom)?;
                $ty::deserialize_in_place(deserializer, &mut *guard)?;
                drop(guard);
                Ok(handle)
            }
        }
    };
}
protected_inline!(Text);
protected_inline!(Bytes);

/// `Protected<[u8; N]>` from exactly `N` bytes or a sequence of `N` numbers.
struct ArrayVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
    type Value = Protected<[u8; N]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N} bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        if v.len() != N {
            return Err(E::invalid_length(v.len(), &self));
        }
        Protected::<[u8; N]>::init_with(|key| key.copy_from_slice(v)).map_err(custom)
    }

    fn visit_byte_buf<E: de::Error>(self, mut v: Vec<u8>) -> Result<Self::Value, E> {
        let result = self.visit_bytes(&v);
        wipe_vec(&mut v);
        result
    }

    fn visit_str<E: de::Error>(self, _v: &str) -> Result<Self::Value, E> {
        Err(wrong_type("string", &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut handle = Protected::<[u8; N]>::zeroed().map_err(custom)?;
        {
            let mut key = handle.write().map_err(custom)?;
            for (i, slot) in key.iter_mut().enumerate() {
                *slot =
                    seq.next_element::<u8>()?.ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            if seq.next_element::<de::IgnoredAny>()?.is_some() {
                return Err(de::Error::invalid_length(N + 1, &self));
            }
        }
        Ok(handle)
    }
}

impl<'de, const N: usize> Deserialize<'de> for Protected<[u8; N]> {
    /// As serde's `[u8; N]` (a tuple of `N` numbers), or `N` bytes where the
    /// format has them.
    ///
    /// Human-readable formats (JSON) are asked for any value, so that input of
    /// the wrong type reaches this visitor, whose error does not quote it
    /// (`serde_json` quotes a string it finds where a tuple was asked for).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(ArrayVisitor::<N>)
        } else {
            deserializer.deserialize_tuple(N, ArrayVisitor::<N>)
        }
    }
}

/// `Protected<[u8]>` from bytes or a sequence of numbers of any length.
struct SliceVisitor;

impl<'de> Visitor<'de> for SliceVisitor {
    type Value = Protected<[u8]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        copy_slice(Home::Dedicated(Options::default()), v).map_err(custom)
    }

    fn visit_byte_buf<E: de::Error>(self, mut v: Vec<u8>) -> Result<Self::Value, E> {
        let result = self.visit_bytes(&v);
        wipe_vec(&mut v);
        result
    }

    fn visit_str<E: de::Error>(self, _v: &str) -> Result<Self::Value, E> {
        Err(wrong_type("string", &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let hint = seq.size_hint().unwrap_or(0);
        let mut grower = Grower::new(Home::Dedicated(Options::default()), usize::MAX - 1, hint)
            .map_err(custom)?;
        loop {
            let step = grower
                .fill(|spare| {
                    for (i, slot) in spare.iter_mut().enumerate() {
                        match seq.next_element::<u8>() {
                            Ok(Some(byte)) => *slot = byte,
                            Ok(None) => return (i, Ok(true)),
                            Err(error) => return (i, Err(error)),
                        }
                    }
                    (spare.len(), Ok(false))
                })
                .map_err(custom)?;
            if step? {
                return grower.finish().map_err(custom);
            }
        }
    }
}

impl<'de> Deserialize<'de> for Protected<[u8]> {
    /// From bytes where the format has them, or a sequence of numbers (serde's
    /// `Vec<u8>`); JSON strings are taken as their UTF-8 bytes by `serde_json`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(SliceVisitor)
    }
}

/// `Protected<str>` from a string (or UTF-8 bytes).
struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Protected<str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let bytes =
            copy_slice(Home::Dedicated(Options::default()), v.as_bytes()).map_err(custom)?;
        into_text(bytes).map_err(custom)
    }

    fn visit_string<E: de::Error>(self, mut v: String) -> Result<Self::Value, E> {
        let result = self.visit_str(&v);
        wipe_string(&mut v);
        result
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        let bytes = copy_slice(Home::Dedicated(Options::default()), v).map_err(custom)?;
        into_text(bytes).map_err(custom)
    }

    fn visit_byte_buf<E: de::Error>(self, mut v: Vec<u8>) -> Result<Self::Value, E> {
        let result = self.visit_bytes(&v);
        wipe_vec(&mut v);
        result
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(wrong_type("sequence", &self))
    }
}

impl<'de> Deserialize<'de> for Protected<str> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor)
    }
}
