//! Fixed-capacity text and byte strings kept inline: [`Text<N>`] and [`Bytes<N>`],
//! usable as fields of `#[protected]` structs (a password, a user name, a token of
//! variable length up to `N` bytes).
//!
//! # Invariants
//!
//! Both are `repr(C)` `{ len: usize, bytes: [u8; N] }`. All-zero is the empty
//! string, so a fresh region holds a valid, empty value. The methods keep
//! `len <= N` and the bytes past `len` zero (wiped), and [`Text`] keeps
//! `bytes[..len]` valid UTF-8 — but nothing relies on that for soundness: `len`
//! is clamped to `N` on every read, and [`Text::as_str`] validates with
//! [`core::str::from_utf8`] rather than assuming, so bytes changed behind the
//! type's back (a wiped region, a bug elsewhere) give a shorter string, never
//! undefined behaviour.

#![allow(unsafe_code)]

use core::fmt;

use subtle::{Choice, ConstantTimeEq};

use crate::{
    error::Error,
    load::{self, Load},
    secret::{CtEq, Plain},
    wipe::{wipe_bytes, wipe_string, wipe_vec},
};

/// UTF-8 text of at most `N` bytes, stored inline: a field type for
/// `#[protected]` structs, or a secret of its own (`Protected<Text<N>>`).
///
/// A `Text` only ever exists inside protected memory, where it starts zeroed
/// (the empty string): no safe code can build one by value. It has no
/// constructor, no `Clone`, `Copy`, `Default` or `From`, and with the `serde`
/// feature it is deserialized only in place — as `Protected<Text<N>>` or into
/// a field you hold in a write scope (`siegel::InPlace`); deserializing it by
/// value (alone, in an `Option`, or as a field of an ordinary
/// `#[derive(Deserialize)]` struct) does not compile. It is filled in place by
/// its setters, which report input that does not fit, or is not UTF-8, as an
/// [`Error`] without changing anything. [`set_from`](Self::set_from) takes a
/// `String` and wipes its buffer; [`clear`](Self::clear) wipes. The loaders of
/// [`Load`](crate::Load) fill it straight from a reader, hex, base64 or an
/// environment variable (`load_env`), checking UTF-8.
///
/// # Examples
///
/// ```
/// use siegel::{protected, CtEq, Dedicated, Protected, Text};
///
/// #[protected]
/// struct Login {
///     user: Text<64>,
///     password: Text<128>,
/// }
///
/// let mut typed = String::from("correct horse battery staple");
/// let login = Protected::<Login>::init_with_in(Dedicated, |l| {
///     l.user_mut().try_set("alice")?;
///     l.password_mut().set_from(&mut typed) // copies, then wipes `typed`
/// })?;
/// assert!(typed.is_empty());
///
/// let guard = login.read()?;
/// assert_eq!(guard.user().as_str(), "alice");
/// assert!(guard.password().ct_eq("correct horse battery staple"));
/// assert!(!guard.password().ct_eq("wrong"));
/// # Ok::<(), siegel::Error>(())
/// ```
#[repr(C)]
pub struct Text<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

/// Bytes of any value, at most `N` of them, stored inline: the byte-string twin
/// of [`Text`] (a token, a salt, a key of variable length).
///
/// Like a `Text`, it only ever exists inside protected memory: no constructor,
/// no `Clone`, `Copy`, `Default` or `From`, and (feature `serde`) deserialized
/// only in place, never by value. The loaders of [`Load`](crate::Load) fill it
/// from a reader, hex (`load_hex`), base64 or an environment variable.
///
/// # Examples
///
/// ```
/// use siegel::{Bytes, Dedicated, Protected};
///
/// let token = Protected::<Bytes<64>>::init_with_in(Dedicated, |b| {
///     siegel::fill_random(b.try_set_len(24)?) // 24 random bytes, in place
/// })?;
/// assert_eq!(token.read()?.len(), 24);
/// # Ok::<(), siegel::Error>(())
/// ```
#[repr(C)]
pub struct Bytes<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

// SAFETY:
// - all-zero is valid: `len` 0 and `N` zero bytes (integers);
// - no pointer, no drop glue (no `Drop` impl, integer fields), no interior
//   mutability; `usize` and `[u8; N]` are `Send + Sync + 'static`.
unsafe impl<const N: usize> Plain for Text<N> {}

// SAFETY:
// - as for `Text<N>`: the same two integer fields.
unsafe impl<const N: usize> Plain for Bytes<N> {}

/// Operations shared by [`Text`] and [`Bytes`], on their `len` and `bytes`, and
/// their loaders (each type says what a loaded value must be: `loaded_is_valid`).
macro_rules! inline_common {
    ($ty:ident) => {
        impl<const N: usize> $ty<N> {
            /// The capacity in bytes.
            pub const CAPACITY: usize = N;

            /// The length in bytes (never more than `N`).
            #[must_use]
            pub fn len(&self) -> usize {
                self.len.min(N)
            }

            /// Whether the length is 0.
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The capacity in bytes, `N`.
            #[must_use]
            pub const fn capacity(&self) -> usize {
                N
            }

            /// The bytes in use.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8] {
                self.bytes.split_at(self.len()).0
            }

            /// Wipes every byte (volatile stores) and sets the length to 0.
            pub fn clear(&mut self) {
                wipe_bytes(&mut self.bytes);
                self.len = 0;
            }

            /// Fails unless `len` bytes fit.
            fn check_fits(len: Option<usize>) -> Result<usize, Error> {
                match len {
                    Some(len) if len <= N => Ok(len),
                    Some(len) => Err(Error::CapacityExceeded { len, capacity: N }),
                    None => Err(Error::CapacityExceeded { len: usize::MAX, capacity: N }),
                }
            }

            /// Replaces the contents with `bytes` (checked by the caller).
            fn replace(&mut self, bytes: &[u8]) {
                self.clear();
                self.append(bytes);
            }

            /// Appends `bytes`, which the caller checked fit.
            fn append(&mut self, bytes: &[u8]) {
                let start = self.len();
                let end = start + bytes.len();
                self.bytes[start..end].copy_from_slice(bytes);
                self.len = end;
            }

            /// Constant-time comparison with `candidate` over the whole capacity:
            /// the time taken depends on `N` and on the candidate's length, not on
            /// the secret's length or contents. Bytes past the length are zero, so
            /// comparing all `N` bytes and the lengths is comparing the contents.
            fn ct_eq_bytes(&self, candidate: &[u8]) -> bool {
                if candidate.len() > N {
                    // The candidate's length is the caller's, not the secret's.
                    return false;
                }
                let mut equal: Choice = ConstantTimeEq::ct_eq(&self.len, &candidate.len());
                for (i, secret) in self.bytes.iter().enumerate() {
                    let other = candidate.get(i).copied().unwrap_or(0);
                    equal &= ConstantTimeEq::ct_eq(secret, &other);
                }
                bool::from(equal)
            }
        }

        impl<const N: usize> load::sealed::Field for $ty<N> {
            const CAPACITY: usize = N;
            const EXACT: bool = false;

            fn wiped(&mut self) -> &mut [u8] {
                self.clear();
                &mut self.bytes
            }

            fn set_loaded(&mut self, len: usize) -> Result<(), Error> {
                let len = Self::check_fits(Some(len))?;
                Self::loaded_is_valid(&self.bytes[..len])?;
                self.len = len;
                Ok(())
            }
        }

        impl<const N: usize> Load for $ty<N> {}

        impl<const N: usize> fmt::Debug for $ty<N> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}<{N}>([REDACTED])", stringify!($ty))
            }
        }
    };
}

inline_common!(Text);
inline_common!(Bytes);

impl<const N: usize> CtEq for Text<N> {
    type Candidate = str;

    /// Compares the text with `candidate` in constant time: the time taken
    /// depends on `N` and `candidate.len()`, not on the secret's length or
    /// contents.
    fn ct_eq(&self, candidate: &str) -> bool {
        self.ct_eq_bytes(candidate.as_bytes())
    }
}

impl<const N: usize> CtEq for Bytes<N> {
    type Candidate = [u8];

    /// Compares the bytes with `candidate` in constant time: the time taken
    /// depends on `N` and `candidate.len()`, not on the secret.
    fn ct_eq(&self, candidate: &[u8]) -> bool {
        self.ct_eq_bytes(candidate)
    }
}

impl<const N: usize> Text<N> {
    /// What a loader wrote must be UTF-8.
    fn loaded_is_valid(bytes: &[u8]) -> Result<(), Error> {
        core::str::from_utf8(bytes)
            .map(drop)
            .map_err(|e| Error::InvalidUtf8 { valid_up_to: e.valid_up_to() })
    }
}

impl<const N: usize> Bytes<N> {
    /// Any bytes a loader wrote are valid.
    #[allow(clippy::unnecessary_wraps, reason = "the shape `Text`'s check has")]
    fn loaded_is_valid(_bytes: &[u8]) -> Result<(), Error> {
        Ok(())
    }
}

impl<const N: usize> Text<N> {
    /// The text.
    ///
    /// The bytes are validated on each call ([`core::str::from_utf8`], cheap next
    /// to a scope). They are always valid when written through this type's
    /// methods; should they have been changed behind its back, the longest valid
    /// prefix is returned. Validation time depends on the bytes (as any UTF-8
    /// check's does); compare with [`CtEq::ct_eq`], not with `==`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let bytes = self.as_bytes();
        match core::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                core::str::from_utf8(bytes.split_at(error.valid_up_to()).0).unwrap_or_default()
            }
        }
    }

    /// The text, mutable in place (safe `&mut str` methods keep it UTF-8), for
    /// example `make_ascii_lowercase`. Validated as in [`as_str`](Self::as_str).
    #[must_use]
    pub fn as_mut_str(&mut self) -> &mut str {
        let len = self.len();
        let bytes = self.bytes.split_at_mut(len).0;
        let valid = match core::str::from_utf8(bytes) {
            Ok(_) => len,
            Err(error) => error.valid_up_to(),
        };
        core::str::from_utf8_mut(bytes.split_at_mut(valid).0).unwrap_or_default()
    }

    /// Replaces the text with `text`.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`] if `text` is longer than `N` bytes; the text
    /// is then unchanged.
    pub fn try_set(&mut self, text: &str) -> Result<(), Error> {
        Self::check_fits(Some(text.len()))?;
        self.replace(text.as_bytes());
        Ok(())
    }

    /// Appends `text`.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`] if the result would be longer than `N` bytes;
    /// the text is then unchanged.
    pub fn try_push_str(&mut self, text: &str) -> Result<(), Error> {
        Self::check_fits(self.len().checked_add(text.len()))?;
        self.append(text.as_bytes());
        Ok(())
    }

    /// Appends one character, encoded straight into the buffer.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`], the text unchanged.
    pub fn try_push(&mut self, c: char) -> Result<(), Error> {
        let start = self.len();
        let end = Self::check_fits(start.checked_add(c.len_utf8()))?;
        c.encode_utf8(&mut self.bytes[start..end]);
        self.len = end;
        Ok(())
    }

    /// Replaces the text with `source`'s, then wipes `source`'s whole buffer
    /// (spare capacity included) and empties it; its capacity is kept.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`]: nothing changes, `source` included.
    pub fn set_from(&mut self, source: &mut String) -> Result<(), Error> {
        self.try_set(source)?;
        wipe_string(source);
        Ok(())
    }

    /// Replaces the text with `bytes` if they are valid UTF-8.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`] or [`Error::InvalidUtf8`]; the text is then
    /// unchanged.
    pub fn try_set_utf8(&mut self, bytes: &[u8]) -> Result<(), Error> {
        Self::check_fits(Some(bytes.len()))?;
        let text = core::str::from_utf8(bytes)
            .map_err(|e| Error::InvalidUtf8 { valid_up_to: e.valid_up_to() })?;
        self.replace(text.as_bytes());
        Ok(())
    }
}

impl<const N: usize> Bytes<N> {
    /// The bytes in use, mutable in place.
    #[must_use]
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        let len = self.len();
        self.bytes.split_at_mut(len).0
    }

    /// Sets the length to `len` and returns the bytes in use, mutable: new bytes
    /// are zero, bytes cut off are wiped. For writing in place — random bytes
    /// ([`fill_random`](crate::fill_random)), a decoder's output.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`] if `len > N`; nothing changes.
    pub fn try_set_len(&mut self, len: usize) -> Result<&mut [u8], Error> {
        Self::check_fits(Some(len))?;
        let old = self.len();
        if len < old {
            wipe_bytes(&mut self.bytes[len..old]);
        }
        self.len = len;
        Ok(self.as_mut_bytes())
    }

    /// Replaces the contents with `bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`], the contents unchanged.
    pub fn try_set(&mut self, bytes: &[u8]) -> Result<(), Error> {
        Self::check_fits(Some(bytes.len()))?;
        self.replace(bytes);
        Ok(())
    }

    /// Appends `bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`], the contents unchanged.
    pub fn try_extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), Error> {
        Self::check_fits(self.len().checked_add(bytes.len()))?;
        self.append(bytes);
        Ok(())
    }

    /// Replaces the contents with `source`, then wipes `source` (volatile zeros).
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`]: nothing changes, `source` included.
    pub fn set_from(&mut self, source: &mut [u8]) -> Result<(), Error> {
        self.try_set(source)?;
        wipe_bytes(source);
        Ok(())
    }

    /// Replaces the contents with `source`'s, then wipes `source`'s whole buffer
    /// (spare capacity included) and empties it.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`]: nothing changes, `source` included.
    pub fn set_from_vec(&mut self, source: &mut Vec<u8>) -> Result<(), Error> {
        self.try_set(source)?;
        wipe_vec(source);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroed_text<const N: usize>() -> Text<N> {
        Text { len: 0, bytes: [0; N] }
    }

    #[test]
    fn clamps_a_corrupt_length_and_validates_utf8() {
        let mut t = zeroed_text::<4>();
        t.len = 99; // as if memory were changed behind the type's back
        assert_eq!(t.len(), 4);
        assert_eq!(t.as_str(), "\0\0\0\0");
        t.bytes = [b'a', 0xff, b'b', b'c'];
        assert_eq!(t.as_str(), "a");
        assert_eq!(t.as_mut_str(), "a");
    }

    #[test]
    fn setters_check_capacity_and_keep_the_tail_zero() {
        let mut t = zeroed_text::<8>();
        t.try_set("abcdefgh").unwrap();
        assert!(matches!(
            t.try_push_str("i"),
            Err(Error::CapacityExceeded { len: 9, capacity: 8 })
        ));
        assert_eq!(t.as_str(), "abcdefgh");
        t.try_set("xy").unwrap();
        assert_eq!(t.bytes, *b"xy\0\0\0\0\0\0");
        t.try_push('é').unwrap();
        assert_eq!(t.as_str(), "xyé");
        assert!(CtEq::ct_eq(&t, "xyé"));
        assert!(!CtEq::ct_eq(&t, "xy"));
        assert!(!CtEq::ct_eq(&t, "xyéxyéxyé"));
        assert!(matches!(t.try_set_utf8(b"\xc3"), Err(Error::InvalidUtf8 { valid_up_to: 0 })));
        assert_eq!(t.as_str(), "xyé");
        t.clear();
        assert_eq!(t.bytes, [0; 8]);
        assert!(t.is_empty());
    }

    #[test]
    fn bytes_set_len_wipes_what_it_cuts() {
        let mut b = Bytes::<6> { len: 0, bytes: [0; 6] };
        b.try_set(b"abcdef").unwrap();
        b.try_set_len(2).unwrap();
        assert_eq!(b.bytes, *b"ab\0\0\0\0");
        assert_eq!(b.try_set_len(4).unwrap(), b"ab\0\0");
        assert!(b.try_set_len(7).is_err());
        assert!(CtEq::ct_eq(&b, b"ab\0\0"));
        assert_eq!(format!("{b:?}"), "Bytes<6>([REDACTED])");
    }
}
