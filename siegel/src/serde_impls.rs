//! `serde` support (feature `serde`): deserializing straight into protected
//! memory, and serializing only what opts in.
//!
//! # Deserialize
//!
//! A whole struct of secrets, in one call: declare it
//! `#[protected(deserialize)]` and `Protected<Struct>` implements `Deserialize`
//! (see [`DeserializeInPlace`]). Its fields are filled in place, in a new
//! region; fields it does not know are skipped, missing or repeated ones are
//! errors, as with serde's derive. `#[derive(Deserialize)]` on a
//! `#[protected]` struct, above or below the attribute, does not compile: it
//! would build the struct by value.
//!
//! Into a new region, as `Deserialize` for the handle: `Protected<[u8]>`,
//! `Protected<str>`, and `Protected<T>` for every `T` that
//! [`DeserializeInPlace`] — integers, floats, `bool`, [`Text<N>`],
//! [`Bytes<N>`] and arrays of them (`Protected<[u8; 32]>`,
//! `Protected<Text<64>>`). A dedicated region with
//! [`Options::default`](crate::Options) is created zeroed and the value is
//! deserialized into it inside a write scope; if that fails, the region is
//! wiped and unmapped with the error.
//!
//! Into a value that already sits in protected memory, with [`InPlace`] (a
//! [`DeserializeSeed`]) or [`DeserializeInPlace::deserialize_in_place`], inside
//! a write scope or an initialiser.
//!
//! **Never by value.** `Text<N>` and `Bytes<N>` are secrets whose only home is
//! a region: they do not implement `Deserialize` in any usable way (an
//! impl exists only to fail with a message that names the in-place routes), so
//! neither do `Option<Text<N>>`, `Vec<Bytes<N>>` or an ordinary
//! `#[derive(Deserialize)]` struct with such a field, which would all be built
//! on the stack or the heap, unwiped.
//!
//! Where the format lends its own buffer (`visit_str`, `visit_bytes`, the
//! borrowed forms) the bytes are copied from it straight into the region. Where
//! it hands over an owned `String` or `Vec<u8>` (`visit_string`,
//! `visit_byte_buf`), that buffer is wiped once copied (or refused). Sequences
//! of numbers are written into the region element by element. The
//! deserializer's own input and scratch buffers (`serde_json` unescapes into
//! one) are outside siegel's reach.
//!
//! Error messages never quote the input: serde's defaults would
//! (`invalid type: string "hunter2"`), so every visitor method that sees content
//! is implemented here, and human-readable formats are asked for any value
//! (`deserialize_any`) so that input of the wrong type reaches these visitors
//! rather than the format's own message.
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
    error::Error,
    load::{copy_slice, into_text, Grower},
    options::Options,
    perm::Permission,
    place::{Dedicated, Home},
    protected::Protected,
    secret::{Plain, Secret},
    text::{Bytes, Text},
    wipe::{wipe_string, wipe_vec},
};

/// A serde error carrying a siegel [`Error`] (whose message quotes no secret).
fn custom<E: de::Error>(error: Error) -> E {
    E::custom(error)
}

/// An error for input of the wrong type, naming the type but not the content.
pub(crate) fn wrong_type<E: de::Error>(what: &str, expected: &dyn de::Expected) -> E {
    E::custom(format_args!("invalid type: {what}, expected {expected}"))
}

/// Visitor methods for content a visitor refuses, with an error that names the
/// kind of input but never quotes it (serde's defaults would). Owned buffers
/// handed over are wiped before the error is returned.
macro_rules! refuse {
    ($($kind:ident),* $(,)?) => { $( refuse!(@ $kind); )* };
    (@ bool) => {
        fn visit_bool<E: serde::de::Error>(self, _v: bool) -> Result<Self::Value, E> {
            Err($crate::serde_impls::wrong_type("a boolean", &self))
        }
    };
    (@ integer) => {
        fn visit_i64<E: serde::de::Error>(self, _v: i64) -> Result<Self::Value, E> {
            Err($crate::serde_impls::wrong_type("an integer", &self))
        }
        fn visit_u64<E: serde::de::Error>(self, _v: u64) -> Result<Self::Value, E> {
            Err($crate::serde_impls::wrong_type("an integer", &self))
        }
        fn visit_i128<E: serde::de::Error>(self, _v: i128) -> Result<Self::Value, E> {
            Err($crate::serde_impls::wrong_type("an integer", &self))
        }
        fn visit_u128<E: serde::de::Error>(self, _v: u128) -> Result<Self::Value, E> {
            Err($crate::serde_impls::wrong_type("an integer", &self))
        }
    };
    (@ float) => {
        fn visit_f64<E: serde::de::Error>(self, _v: f64) -> Result<Self::Value, E> {
            Err($crate::serde_impls::wrong_type("a floating-point number", &self))
        }
    };
    (@ string) => {
        fn visit_str<E: serde::de::Error>(self, _v: &str) -> Result<Self::Value, E> {
            Err($crate::serde_impls::wrong_type("a string", &self))
        }
        fn visit_string<E: serde::de::Error>(self, mut v: String) -> Result<Self::Value, E> {
            $crate::wipe::wipe_string(&mut v);
            Err($crate::serde_impls::wrong_type("a string", &self))
        }
    };
    (@ bytes) => {
        fn visit_bytes<E: serde::de::Error>(self, _v: &[u8]) -> Result<Self::Value, E> {
            Err($crate::serde_impls::wrong_type("bytes", &self))
        }
        fn visit_byte_buf<E: serde::de::Error>(self, mut v: Vec<u8>) -> Result<Self::Value, E> {
            $crate::wipe::wipe_vec(&mut v);
            Err($crate::serde_impls::wrong_type("bytes", &self))
        }
    };
    (@ seq) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
            Err($crate::serde_impls::wrong_type("a sequence", &self))
        }
    };
}
pub(crate) use refuse;

/// Opts a secret's type into `Serialize` for `Protected<T, P>`.
///
/// The serializer receives the secret inside a read scope and writes it where
/// it writes (a `String`, a file): outside protected memory, by design.
///
/// # Examples
///
/// ```
/// use serde::{Serialize, Serializer};
/// use siegel::{protected, Dedicated, Protected, SerializableSecret};
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
/// let key = Protected::<ApiKey>::init_with_in(Dedicated, |k| k.get_mut().fill(1))?;
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

/// A value deserialized in place: written into a `&mut Self` that already sits
/// in protected memory, never built by value.
///
/// Implemented for the integers, floats, `bool`, [`Text<N>`], [`Bytes<N>`],
/// arrays of any of them, and every `#[protected(deserialize)]` struct. For
/// each such `T`, `Protected<T>` implements `Deserialize` (a new region, filled
/// in place), and [`InPlace`] fills a `T` you hold inside a write scope.
///
/// ```
/// use siegel::{protected, CtEq, Protected, Text};
///
/// #[protected(deserialize)]
/// struct Login {
///     user: Text<32>,
///     password: Text<64>,
/// }
///
/// let json = r#"{"user": "alice", "password": "correct horse"}"#;
/// let login: Protected<Login> = serde_json::from_str(json)?;
/// assert!(login.read()?.password().ct_eq("correct horse"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Unlike serde's `Deserialize::deserialize_in_place`, which a type may leave to
/// its by-value `deserialize` (a value on the stack, then moved), every impl
/// here writes through `place`: strings and bytes are copied from the
/// deserializer's buffer into it, sequences element by element.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be deserialized in place by siegel",
    label = "not `siegel::DeserializeInPlace`",
    note = "siegel deserializes into protected memory in place: integers, floats, `bool`, \
            `Text<N>`, `Bytes<N>`, arrays of them, and `#[protected(deserialize)]` structs",
    note = "a `#[protected]` struct deserializes in place once it is declared \
            `#[protected(deserialize)]`"
)]
pub trait DeserializeInPlace<'de> {
    /// Deserializes into `place`, overwriting what it holds.
    ///
    /// # Errors
    ///
    /// The deserializer's error: input of the wrong type or length, or a value
    /// that does not fit (its message never quotes the input). `place` may then
    /// hold part of the input; a new region that fails this way is wiped with
    /// the error.
    fn deserialize_in_place<D: Deserializer<'de>>(
        deserializer: D,
        place: &mut Self,
    ) -> Result<(), D::Error>;

    /// `places` as bytes, if `Self` is `u8`: lets `[u8; N]` take a format's
    /// byte strings as well as sequences.
    #[doc(hidden)]
    fn __as_bytes_mut(places: &mut [Self]) -> Option<&mut [u8]>
    where
        Self: Sized,
    {
        let _ = places;
        None
    }
}

/// Deserializes a `T` in place, into the `&mut T` it holds: a
/// [`DeserializeSeed`] that calls [`DeserializeInPlace::deserialize_in_place`].
/// For fields of a `#[protected]` struct, inside a write scope.
///
/// To deserialize a whole struct, `#[protected(deserialize)]` is the one-line
/// form (see [`DeserializeInPlace`]); `InPlace` is for visitors of your own,
/// say to fill some fields from one source and the rest from another.
///
/// # Examples
///
/// ```
/// use serde::de::{Deserializer as _, MapAccess, Visitor};
/// use siegel::{protected, CtEq, Dedicated, InPlace, Protected, Text};
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
/// let login = Protected::<Login>::init_with_in(Dedicated, |l| {
///     let mut de = serde_json::Deserializer::from_str(json);
///     Ok::<_, Box<dyn std::error::Error>>(de.deserialize_map(LoginVisitor(l))?)
/// })?;
/// assert!(login.read()?.password().ct_eq("correct horse"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct InPlace<'a, T>(pub &'a mut T);

impl<'de, T: DeserializeInPlace<'de>> DeserializeSeed<'de> for InPlace<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        T::deserialize_in_place(deserializer, self.0)
    }
}

/// `Protected<T>`: a zeroed region, filled in place in a write scope. On an
/// error the handle is dropped, which wipes what was written.
impl<'de, T: Plain + DeserializeInPlace<'de>> Deserialize<'de> for Protected<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut handle = Protected::<T>::zeroed_in(Dedicated).map_err(custom)?;
        let mut guard = handle.write().map_err(custom)?;
        T::deserialize_in_place(deserializer, &mut *guard)?;
        drop(guard);
        Ok(handle)
    }
}

/// Never implemented: the bound that keeps `Text<N>` and `Bytes<N>` from being
/// deserialized by value. Their `Deserialize` impls require
/// `InPlaceOnly: DeserializeByValue<Self>`, so any use of them
/// (`serde_json::from_str::<Text<8>>`, an `Option<Text<8>>`, a field of a
/// `#[derive(Deserialize)]` struct) fails to compile with the message below.
///
/// No crate can implement it for them: the trait, [`InPlaceOnly`] and the
/// types are all siegel's (the orphan rule). The bound's self type is
/// `InPlaceOnly`, not the secret's type, so that rustc reports this trait's
/// message rather than `Deserialize`'s ("consider adding
/// `#[derive(serde::Deserialize)]`", which would be wrong here).
#[diagnostic::on_unimplemented(
    message = "`{T}` cannot be deserialized by value: it would be built outside protected \
               memory, and moved without being wiped",
    label = "`{T}` deserialized by value",
    note = "deserialize it in place instead: as `Protected<{T}>` (a new region), as a field of \
            a `#[protected(deserialize)]` struct (`Protected<YourStruct>` then deserializes in \
            one call), or into a field you hold in a write scope with `siegel::InPlace`"
)]
pub trait DeserializeByValue<T: ?Sized> {}

/// The self type of the never-satisfied [`DeserializeByValue`] bound.
#[derive(Debug)]
pub enum InPlaceOnly {}

/// `DeserializeInPlace` for a fixed-capacity field through `$visitor` (binary
/// formats are asked for `$method`). Its by-value `Deserialize` is written out
/// beside each use: a user's compile error points at it, and should read as
/// plain code, not as a macro's.
macro_rules! field_in_place {
    ($ty:ident: $visitor:ident, $method:ident) => {
        impl<'de, const N: usize> DeserializeInPlace<'de> for $ty<N> {
            fn deserialize_in_place<D: Deserializer<'de>>(
                deserializer: D,
                place: &mut Self,
            ) -> Result<(), D::Error> {
                if deserializer.is_human_readable() {
                    deserializer.deserialize_any($visitor(place))
                } else {
                    deserializer.$method($visitor(place))
                }
            }
        }
    };
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

    refuse!(bool, integer, float, seq);
}

field_in_place!(Text: TextVisitor, deserialize_str);

impl<'de, const N: usize> Deserialize<'de> for Text<N>
where
    InPlaceOnly: DeserializeByValue<Self>,
{
    /// Unreachable: `DeserializeByValue` is implemented for nothing.
    fn deserialize<D: Deserializer<'de>>(_deserializer: D) -> Result<Self, D::Error> {
        Err(de::Error::custom("siegel: a `Text` cannot be deserialized by value"))
    }
}

/// Fills a [`Bytes`] in place from bytes, a string (its UTF-8 bytes) or a
/// sequence of `u8`.
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

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.clear();
        loop {
            // One byte at a time through the same local: never more than one
            // byte of the secret outside the region.
            let mut byte = 0u8;
            let added = match seq.next_element_seed(InPlace(&mut byte)) {
                Ok(Some(())) => self.0.try_extend_from_slice(&[byte]).map_err(custom),
                Ok(None) => return Ok(()),
                Err(error) => Err(error),
            };
            if let Err(error) = added {
                self.0.clear();
                return Err(error);
            }
        }
    }

    /// A string is taken as its UTF-8 bytes (as `serde_json` hands a string to
    /// `deserialize_bytes`).
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.visit_bytes(v.as_bytes())
    }

    fn visit_string<E: de::Error>(self, mut v: String) -> Result<(), E> {
        let result = self.visit_bytes(v.as_bytes());
        wipe_string(&mut v);
        result
    }

    refuse!(bool, integer, float);
}

field_in_place!(Bytes: BytesVisitor, deserialize_bytes);

impl<'de, const N: usize> Deserialize<'de> for Bytes<N>
where
    InPlaceOnly: DeserializeByValue<Self>,
{
    /// Unreachable: `DeserializeByValue` is implemented for nothing.
    fn deserialize<D: Deserializer<'de>>(_deserializer: D) -> Result<Self, D::Error> {
        Err(de::Error::custom("siegel: a `Bytes` cannot be deserialized by value"))
    }
}

/// Fills a primitive in place: an integer, a float or a `bool`.
struct PrimitiveVisitor<'a, T>(&'a mut T);

/// The message for an integer that does not fit: the value is not quoted.
fn out_of_range<E: de::Error>(expected: &dyn de::Expected) -> E {
    E::custom(format_args!("invalid value: an integer out of range, expected {expected}"))
}

/// `DeserializeInPlace` for one primitive through [`PrimitiveVisitor`]: `$what`
/// names it in errors; each `visit_*` listed stores `$convert` of the value the
/// format reports (with `$s` the visitor, for errors), every other kind is
/// refused; binary formats are asked for `$method`; `$extra` are more items of
/// the `DeserializeInPlace` impl.
macro_rules! primitive_in_place {
    (
        $(#[$attr:meta])*
        $t:ident => $method:ident, $what:literal,
        |$s:ident, $v:ident| $convert:expr,
        visit($($visit:ident: $vt:ty),*), refuse($($refused:ident),*)
        $(, $extra:item)?
    ) => {
        $(#[$attr])*
        impl<'de> Visitor<'de> for PrimitiveVisitor<'_, $t> {
            type Value = ();

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!($what, " (", stringify!($t), ")"))
            }

            $(
                fn $visit<E: de::Error>(self, $v: $vt) -> Result<(), E> {
                    *self.0 = {
                        let $s = &self;
                        $convert
                    };
                    Ok(())
                }
            )*

            refuse!($($refused),*);
        }

        impl<'de> DeserializeInPlace<'de> for $t {
            fn deserialize_in_place<D: Deserializer<'de>>(
                deserializer: D,
                place: &mut Self,
            ) -> Result<(), D::Error> {
                if deserializer.is_human_readable() {
                    deserializer.deserialize_any(PrimitiveVisitor(place))
                } else {
                    deserializer.$method(PrimitiveVisitor(place))
                }
            }

            $($extra)?
        }
    };
}

/// `DeserializeInPlace` for the integer types: any integer the format reports
/// that fits.
macro_rules! integer_in_place {
    ($($t:ident => $method:ident $(, $extra:item)?;)*) => { $(
        primitive_in_place!(
            $t => $method, "an integer",
            |s, v| $t::try_from(v).map_err(|_| out_of_range(s))?,
            visit(visit_i64: i64, visit_u64: u64, visit_i128: i128, visit_u128: u128),
            refuse(bool, float, string, bytes, seq)
            $(, $extra)?
        );
    )* };
}
integer_in_place!(
    u8 => deserialize_u8, fn __as_bytes_mut(places: &mut [u8]) -> Option<&mut [u8]> {
        Some(places)
    };
    u16 => deserialize_u16; u32 => deserialize_u32; u64 => deserialize_u64;
    u128 => deserialize_u128; usize => deserialize_u64;
    i8 => deserialize_i8; i16 => deserialize_i16; i32 => deserialize_i32;
    i64 => deserialize_i64; i128 => deserialize_i128; isize => deserialize_i64;
);

/// `DeserializeInPlace` for `f32` and `f64`: any number (integers converted as
/// serde's own impls convert them).
macro_rules! float_in_place {
    ($($t:ident => $method:ident),* $(,)?) => { $(
        primitive_in_place!(
            #[allow(
                clippy::as_conversions,
                clippy::cast_possible_truncation,
                clippy::cast_precision_loss,
                reason = "a number into a float, rounded as serde's `Deserialize` for floats rounds"
            )]
            $t => $method, "a number",
            |_s, v| v as $t,
            visit(visit_f64: f64, visit_i64: i64, visit_u64: u64),
            refuse(bool, string, bytes, seq)
        );
    )* };
}
float_in_place!(f32 => deserialize_f32, f64 => deserialize_f64);

impl<'de> Visitor<'de> for PrimitiveVisitor<'_, bool> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        *self.0 = v;
        Ok(())
    }

    refuse!(integer, float, string, bytes, seq);
}

impl<'de> DeserializeInPlace<'de> for bool {
    fn deserialize_in_place<D: Deserializer<'de>>(
        deserializer: D,
        place: &mut Self,
    ) -> Result<(), D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(PrimitiveVisitor(place))
        } else {
            deserializer.deserialize_bool(PrimitiveVisitor(place))
        }
    }
}

/// What an array of `N` elements expects, for length errors.
struct ArrayLen(usize);

impl de::Expected for ArrayLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {} elements", self.0)
    }
}

/// Fills `[T; N]` in place: exactly `N` elements, each deserialized in place,
/// or (for `[u8; N]`) exactly `N` bytes where the format has byte strings.
struct ArrayVisitor<'a, T, const N: usize>(&'a mut [T; N]);

impl<'de, T: DeserializeInPlace<'de>, const N: usize> Visitor<'de> for ArrayVisitor<'_, T, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        de::Expected::fmt(&ArrayLen(N), f)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for (i, slot) in self.0.iter_mut().enumerate() {
            if seq.next_element_seed(InPlace(slot))?.is_none() {
                return Err(de::Error::invalid_length(i, &ArrayLen(N)));
            }
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(N + 1, &ArrayLen(N)));
        }
        Ok(())
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        match T::__as_bytes_mut(self.0) {
            Some(bytes) if bytes.len() == v.len() => {
                bytes.copy_from_slice(v);
                Ok(())
            }
            Some(_) => Err(E::invalid_length(v.len(), &ArrayLen(N))),
            None => Err(wrong_type("bytes", &ArrayLen(N))),
        }
    }

    fn visit_byte_buf<E: de::Error>(self, mut v: Vec<u8>) -> Result<(), E> {
        let result = self.visit_bytes(&v);
        wipe_vec(&mut v);
        result
    }

    refuse!(bool, integer, float, string);
}

impl<'de, T: DeserializeInPlace<'de>, const N: usize> DeserializeInPlace<'de> for [T; N] {
    /// As serde's `[T; N]` (a tuple of `N` elements), or `N` bytes for `[u8; N]`
    /// where the format has them.
    fn deserialize_in_place<D: Deserializer<'de>>(
        deserializer: D,
        place: &mut Self,
    ) -> Result<(), D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(ArrayVisitor(place))
        } else {
            deserializer.deserialize_tuple(N, ArrayVisitor(place))
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

    /// A string is taken as its UTF-8 bytes (as `serde_json` hands a string to
    /// `deserialize_bytes`).
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.visit_bytes(v.as_bytes())
    }

    fn visit_string<E: de::Error>(self, mut v: String) -> Result<Self::Value, E> {
        let result = self.visit_bytes(v.as_bytes());
        wipe_string(&mut v);
        result
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let hint = seq.size_hint().unwrap_or(0);
        let mut grower = Grower::new(Home::Dedicated(Options::default()), usize::MAX - 1, hint)
            .map_err(custom)?;
        loop {
            let step = grower
                .fill(|spare| {
                    for (i, slot) in spare.iter_mut().enumerate() {
                        match seq.next_element_seed(InPlace(slot)) {
                            Ok(Some(())) => {}
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

    refuse!(bool, integer, float);
}
impl<'de> Deserialize<'de> for Protected<[u8]> {
    /// From bytes where the format has them, or a sequence of numbers (serde's
    /// `Vec<u8>`); JSON strings are taken as their UTF-8 bytes by `serde_json`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(SliceVisitor)
        } else {
            deserializer.deserialize_bytes(SliceVisitor)
        }
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

    refuse!(bool, integer, float, seq);
}

impl<'de> Deserialize<'de> for Protected<str> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(StrVisitor)
        } else {
            deserializer.deserialize_str(StrVisitor)
        }
    }
}
