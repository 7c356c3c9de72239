//! Secrets loaded in place: from any [`Read`] (a file, stdin, a socket), from
//! hex or base64 text, from a `String` or from an environment variable — each
//! written straight into protected pages, with no intermediate buffer that
//! siegel allocates.
//!
//! When the length is not known in advance (a reader), the secret grows the way
//! a `Vec` does, but region by region: a larger region is made, the bytes are
//! copied across with both open, and the old region is dropped, which wipes and
//! unmaps it. When the input ends, the secret is trimmed the same way to its
//! exact length, so that the guard page sits right after its last byte.
//!
//! On every error — over-long input, invalid UTF-8 or encoding, a reader that
//! fails or ends early — the partly filled region is dropped (wiped and
//! unmapped) before the error is returned.

#![allow(unsafe_code)]

use std::io::{self, Read};

use crate::{
    error::Error,
    place::{home, Home, Place},
    protected::Protected,
    random::{bytes_of_mut, AnyBitPattern},
    secret::Plain,
    wipe::{wipe_bytes, wipe_string, wipe_vec},
};

/// The first region a reader load makes, in bytes, unless the limit is lower.
/// Larger inputs double it (a region costs a page either way below 4 KiB).
const FIRST_CAPACITY: usize = 1024;

/// A byte secret of unknown final length being filled: the region, how much of
/// it holds data, and where larger regions come from.
pub(crate) struct Grower<'a> {
    home: Home<'a>,
    handle: Protected<[u8]>,
    filled: usize,
    limit: usize,
}

impl<'a> Grower<'a> {
    /// Starts with room for `hint` bytes (at least [`FIRST_CAPACITY`]), never
    /// more than `limit + 1`: one byte over the limit is how an over-long input
    /// is told from one of exactly `limit` bytes without reading a byte anywhere
    /// else.
    pub(crate) fn new(home: Home<'a>, limit: usize, hint: usize) -> Result<Self, Error> {
        let capacity = hint.max(FIRST_CAPACITY).min(limit.saturating_add(1));
        let handle = home.zeroed_slice::<u8>(capacity)?;
        Ok(Self { home, handle, filled: 0, limit })
    }

    /// Bytes filled so far.
    pub(crate) fn filled(&self) -> usize {
        self.filled
    }

    /// Runs `f` on the unfilled part of the region (at least one byte) in a write
    /// scope; `f` returns how many bytes it wrote at the start of it (at most
    /// its length) and a value passed back.
    pub(crate) fn fill<T>(&mut self, f: impl FnOnce(&mut [u8]) -> (usize, T)) -> Result<T, Error> {
        let capacity = self.handle.len();
        if self.filled == capacity {
            if capacity > self.limit {
                return Err(Error::LimitExceeded { limit: self.limit });
            }
            let grown = capacity.saturating_mul(2).max(1).min(self.limit.saturating_add(1));
            // The assignment drops the old region: wiped and unmapped.
            self.handle = self.handle.resized(self.home, grown)?;
        }
        let mut guard = self.handle.write()?;
        let spare = &mut guard[self.filled..];
        let room = spare.len();
        let (written, value) = f(spare);
        self.filled += written.min(room);
        Ok(value)
    }

    /// The secret, trimmed to the bytes filled.
    pub(crate) fn finish(self) -> Result<Protected<[u8]>, Error> {
        if self.filled == self.handle.len() {
            Ok(self.handle)
        } else {
            self.handle.resized(self.home, self.filled)
        }
    }
}

/// Reads `reader` to its end into a new byte secret in `home`.
fn read_slice<R: Read>(
    home: Home<'_>,
    mut reader: R,
    limit: usize,
) -> Result<Protected<[u8]>, Error> {
    let mut grower = Grower::new(home, limit, 0)?;
    loop {
        let step = grower.fill(|spare| loop {
            match reader.read(spare) {
                Ok(n) if n <= spare.len() => return (n, Ok(n == 0)),
                Ok(_) => {
                    return (
                        0,
                        Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "the reader reported more bytes than the buffer it was given holds",
                        )),
                    )
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (0, Err(e)),
            }
        })?;
        match step {
            Ok(true) => return grower.finish(),
            Ok(false) => {}
            Err(source) => return Err(Error::Read { read: grower.filled(), source }),
        }
    }
}

/// Retypes a byte secret as text once its bytes are checked to be UTF-8.
pub(crate) fn into_text(bytes: Protected<[u8]>) -> Result<Protected<str>, Error> {
    let invalid = core::str::from_utf8(&bytes.read()?).err().map(|e| e.valid_up_to());
    if let Some(valid_up_to) = invalid {
        // `bytes` drops here: wiped and unmapped.
        return Err(Error::InvalidUtf8 { valid_up_to });
    }
    // SAFETY:
    // - the bytes were validated as UTF-8 just above, and no write scope was
    //   opened since (`bytes` is owned here and only read).
    Ok(unsafe { bytes.into_str_unchecked() })
}

/// A new byte secret in `home` holding a copy of `source`.
pub(crate) fn copy_slice(home: Home<'_>, source: &[u8]) -> Result<Protected<[u8]>, Error> {
    let mut handle = home.zeroed_slice::<u8>(source.len())?;
    handle.write()?.copy_from_slice(source);
    Ok(handle)
}

/// A new text secret holding `source`'s text; `source` is wiped and emptied.
pub(crate) fn take_string(home: Home<'_>, source: &mut String) -> Result<Protected<str>, Error> {
    let bytes = copy_slice(home, source.as_bytes())?;
    wipe_string(source);
    // SAFETY:
    // - the bytes were copied from a `String`, which holds valid UTF-8, and no
    //   write scope was opened since.
    Ok(unsafe { bytes.into_str_unchecked() })
}

/// Reads exactly `size_of::<T>()` bytes into a new `T` in `home`.
fn read_exact<T: Plain + AnyBitPattern, R: Read>(
    home: Home<'_>,
    mut reader: R,
) -> Result<Protected<T>, Error> {
    let mut handle = home.zeroed::<T>()?;
    handle.with_write(|value| {
        let bytes = bytes_of_mut(value);
        let expected = bytes.len();
        let mut read = 0;
        while read < expected {
            match reader.read(&mut bytes[read..]) {
                Ok(0) => return Err(Error::ShortRead { expected, read }),
                Ok(n) => read += n.min(expected - read),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(Error::Read { read, source }),
            }
        }
        Ok(())
    })?;
    Ok(handle)
}

/// The value of environment variable `name`, as a byte secret in `home`. The
/// copy `std::env::var_os` makes is wiped once the bytes are in the region.
fn env_slice(home: Home<'_>, name: &str) -> Result<Protected<[u8]>, Error> {
    let value =
        std::env::var_os(name).ok_or_else(|| Error::EnvVarMissing { name: name.to_owned() })?;
    let mut bytes = value.into_encoded_bytes();
    let result = copy_slice(home, &bytes);
    wipe_vec(&mut bytes);
    result
}

/// The decoded length of `encoded_len` hex digits.
#[cfg(feature = "hex")]
pub(crate) fn decode_hex_len(encoded_len: usize) -> Result<usize, Error> {
    if encoded_len % 2 == 0 {
        Ok(encoded_len / 2)
    } else {
        Err(Error::Decode {
            encoding: "hex",
            offset: None,
            reason: "an odd number of hex digits (each byte takes two)",
        })
    }
}

/// Decodes `encoded` into `out`, whose length must be half of `encoded`'s.
#[cfg(feature = "hex")]
pub(crate) fn decode_hex(encoded: &[u8], out: &mut [u8]) -> Result<(), Error> {
    hex::decode_to_slice(encoded, out).map_err(|error| match error {
        // The offending character is not reported: it is part of the secret.
        hex::FromHexError::InvalidHexCharacter { index, .. } => Error::Decode {
            encoding: "hex",
            offset: Some(index),
            reason: "a character that is not a hex digit",
        },
        hex::FromHexError::OddLength => Error::Decode {
            encoding: "hex",
            offset: None,
            reason: "an odd number of hex digits (each byte takes two)",
        },
        hex::FromHexError::InvalidStringLength => Error::Decode {
            encoding: "hex",
            offset: None,
            reason: "a length that does not match the secret's",
        },
    })
}

/// Decodes `encoded` into `out`; returns the decoded length.
#[cfg(feature = "base64")]
pub(crate) fn decode_base64(
    engine: &impl base64::Engine,
    encoded: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    use base64::{DecodeError, DecodeSliceError};
    engine.decode_slice(encoded, out).map_err(|error| {
        let (offset, reason) = match error {
            // The offending symbol is not reported: it is part of the secret.
            DecodeSliceError::DecodeError(DecodeError::InvalidByte(offset, _)) => {
                (Some(offset), "a byte outside the alphabet, or misplaced padding")
            }
            DecodeSliceError::DecodeError(DecodeError::InvalidLength(_)) => {
                (None, "an impossible length (a final group of one symbol)")
            }
            DecodeSliceError::DecodeError(DecodeError::InvalidLastSymbol { offset, .. }) => {
                (Some(offset), "a last symbol with trailing bits set (truncated or corrupted)")
            }
            DecodeSliceError::DecodeError(DecodeError::InvalidPadding) => {
                (None, "padding that this engine does not accept (missing or extra `=`)")
            }
            DecodeSliceError::OutputSliceTooSmall => {
                (None, "it decodes to more bytes than the secret holds")
            }
        };
        Error::Decode { encoding: "base64", offset, reason }
    })
}

pub(crate) mod sealed {
    use crate::{error::Error, protected::Protected, secret::Secret};

    /// The hidden half of [`Load`](super::Load): how a loader writes into a
    /// field of fixed capacity, `CAPACITY` bytes.
    pub trait Field {
        /// The field's size in bytes.
        const CAPACITY: usize;
        /// Whether the input must fill the field exactly (`[u8; N]`); else it
        /// may be shorter (`Text<N>`, `Bytes<N>`: the length is kept).
        const EXACT: bool;
        /// Wipes the field (volatile zeros, length 0) and returns all of its
        /// `CAPACITY` bytes for a loader to write at the start of.
        fn wiped(&mut self) -> &mut [u8];
        /// Takes the first `len` bytes the loader wrote as the value, checking
        /// what the type needs (`Text`: UTF-8). On error the caller wipes.
        fn set_loaded(&mut self, len: usize) -> Result<(), Error>;
    }

    /// The hidden half of [`Loadable`](super::Loadable).
    pub trait Loadable: Secret {
        /// Retypes loaded bytes as `Self` (checking what `Self` needs).
        fn from_bytes(bytes: Protected<[u8]>) -> Result<Protected<Self>, Error>;
    }

    /// The hidden half of [`Decodable`](super::Decodable).
    pub trait Decodable: Secret {
        #[cfg(feature = "hex")]
        fn hex(home: crate::place::Home<'_>, encoded: &[u8]) -> Result<Protected<Self>, Error>;
        #[cfg(feature = "base64")]
        fn base64(
            home: crate::place::Home<'_>,
            engine: &impl base64::Engine,
            encoded: &[u8],
        ) -> Result<Protected<Self>, Error>;
    }
}

/// What a loader of unknown length builds — [`read_from_in`](Protected::read_from_in),
/// [`from_env_in`](Protected::from_env_in): bytes, `[u8]`, or text, `str` (checked to
/// be UTF-8 before the handle exposes it). Sealed.
pub trait Loadable: sealed::Loadable {}

impl sealed::Loadable for [u8] {
    fn from_bytes(bytes: Protected<[u8]>) -> Result<Protected<Self>, Error> {
        Ok(bytes)
    }
}
impl Loadable for [u8] {}

impl sealed::Loadable for str {
    fn from_bytes(bytes: Protected<[u8]>) -> Result<Protected<Self>, Error> {
        into_text(bytes)
    }
}
impl Loadable for str {}

/// What [`from_hex_in`](Protected::from_hex_in) and
/// [`from_base64_in`](Protected::from_base64_in) decode into: `[u8]` (as long as the
/// input decodes to) or `[u8; N]` (exactly `N` bytes). Sealed.
pub trait Decodable: sealed::Decodable {}

impl sealed::Decodable for [u8] {
    #[cfg(feature = "hex")]
    fn hex(home: Home<'_>, encoded: &[u8]) -> Result<Protected<Self>, Error> {
        let mut handle = home.zeroed_slice::<u8>(decode_hex_len(encoded.len())?)?;
        handle.with_write(|out| decode_hex(encoded, out))?;
        Ok(handle)
    }

    #[cfg(feature = "base64")]
    fn base64(
        home: Home<'_>,
        engine: &impl base64::Engine,
        encoded: &[u8],
    ) -> Result<Protected<Self>, Error> {
        // The estimate is exact or up to two bytes over; trim to what was decoded.
        let estimate = base64::decoded_len_estimate(encoded.len());
        let mut handle = home.zeroed_slice::<u8>(estimate)?;
        let len = handle.with_write(|out| decode_base64(engine, encoded, out))?;
        if len == estimate {
            Ok(handle)
        } else {
            handle.resized(home, len)
        }
    }
}
impl Decodable for [u8] {}

/// An array decodes in place, through its [`Load`] loaders: exactly `N` bytes.
impl<const N: usize> sealed::Decodable for [u8; N] {
    #[cfg(feature = "hex")]
    fn hex(home: Home<'_>, encoded: &[u8]) -> Result<Protected<Self>, Error> {
        let mut handle = home.zeroed::<Self>()?;
        handle.write()?.load_hex(encoded)?;
        Ok(handle)
    }

    #[cfg(feature = "base64")]
    fn base64(
        home: Home<'_>,
        engine: &impl base64::Engine,
        encoded: &[u8],
    ) -> Result<Protected<Self>, Error> {
        let mut handle = home.zeroed::<Self>()?;
        handle.write()?.load_base64(engine, encoded)?;
        Ok(handle)
    }
}
impl<const N: usize> Decodable for [u8; N] {}

/// Loaders for a field of fixed capacity — `[u8; N]`, [`Text<N>`](crate::text::Text),
/// [`Bytes<N>`](crate::text::Bytes) — held in a write scope or an initialiser: the
/// same sources as the constructors ([`read_from_in`](Protected::read_from_in),
/// [`from_hex_in`](Protected::from_hex_in), [`from_base64_in`](Protected::from_base64_in),
/// [`from_env_in`](Protected::from_env_in)), written straight into the field. Sealed.
///
/// Each loader wipes the field first and writes the decoded or read bytes
/// straight into it: no copy of the secret is made outside protected memory,
/// and on any error the field is left wiped (all zero: `[0; N]`, or empty). A
/// `[u8; N]` takes exactly `N` bytes — a shorter or a longer input (a key file
/// with a trailing newline) is an error, never truncated or zero-padded; a
/// `Text<N>` or `Bytes<N>` takes up to `N` and keeps the length, and a `Text`
/// checks UTF-8.
///
/// # Examples
///
/// One struct of secrets, each field loaded from where it lives:
///
/// ```
/// use siegel::{protected, Bytes, Dedicated, Load, Protected, Text};
///
/// #[protected]
/// struct Service {
///     api_token: Text<128>,
///     hmac_key: [u8; 32],
///     salt: Bytes<16>,
/// }
///
/// # std::env::set_var("API_TOKEN", "bearer 42");
/// # let key_file: &[u8] = &[7; 32];
/// let service = Protected::<Service>::init_with_in(Dedicated, |s| {
///     s.api_token_mut().load_env("API_TOKEN")?;
///     s.hmac_key_mut().load_from(key_file)?; // exactly 32 bytes, or an error
///     s.salt_mut().load_hex("00ff10")
/// })?;
/// assert_eq!(service.read()?.api_token().as_str(), "bearer 42");
///
/// // A standalone key the same way: the whole file must be the key.
/// let with_newline: &[u8] = &[7; 33];
/// let err = Protected::<[u8; 32]>::init_with_in(Dedicated, |k| k.load_from(with_newline));
/// assert!(matches!(err, Err(siegel::Error::TrailingInput { expected: 32 })));
/// # Ok::<(), siegel::Error>(())
/// ```
pub trait Load: sealed::Field {
    /// Reads `reader` to its end into the field: exactly `N` bytes for a
    /// `[u8; N]` (the whole input must be the secret), up to `N` for a
    /// `Text<N>` or `Bytes<N>`. Whether the input goes on past `N` bytes is
    /// told by reading one more byte (kept on the stack, then wiped).
    ///
    /// For a prefix of a longer stream, see
    /// [`read_exact_from_in`](Protected::read_exact_from_in).
    ///
    /// # Errors
    ///
    /// [`Error::ShortRead`] (`[u8; N]`: the input ended first),
    /// [`Error::TrailingInput`] (`[u8; N]`: there is more),
    /// [`Error::LimitExceeded`] (`Text`, `Bytes`: more than `N` bytes),
    /// [`Error::InvalidUtf8`] (`Text`), [`Error::Read`]. The field is then wiped.
    fn load_from(&mut self, reader: impl Read) -> Result<(), Error> {
        load(self, |buf| read_all(reader, buf, Self::CAPACITY, Self::EXACT))
    }

    /// Decodes hex (either case) into the field: `2 * N` digits for a
    /// `[u8; N]`, any even number up to `2 * N` for a `Text<N>` or `Bytes<N>`.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] (odd length, a non-hex character, not `N` bytes for an
    /// array), [`Error::CapacityExceeded`] (`Text`, `Bytes`: more than `N`
    /// bytes), [`Error::InvalidUtf8`] (`Text`). The field is then wiped.
    #[cfg(feature = "hex")]
    fn load_hex(&mut self, encoded: impl AsRef<[u8]>) -> Result<(), Error> {
        let encoded = encoded.as_ref();
        load(self, |buf| {
            let len = decode_hex_len(encoded.len())?;
            if Self::EXACT && len != Self::CAPACITY {
                return Err(Error::Decode {
                    encoding: "hex",
                    offset: None,
                    reason: "a length that does not match the secret's (two digits per byte)",
                });
            }
            let out = buf
                .get_mut(..len)
                .ok_or(Error::CapacityExceeded { len, capacity: Self::CAPACITY })?;
            decode_hex(encoded, out)?;
            Ok(len)
        })
    }

    /// Decodes base64 with `engine` (for example
    /// [`base64::engine::general_purpose::STANDARD`]) into the field: exactly
    /// `N` bytes for a `[u8; N]`, up to `N` for a `Text<N>` or `Bytes<N>`.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] (malformed, more than `N` bytes, or fewer than `N`
    /// for an array), [`Error::InvalidUtf8`] (`Text`). The field is then wiped.
    #[cfg(feature = "base64")]
    fn load_base64(
        &mut self,
        engine: &impl base64::Engine,
        encoded: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        let encoded = encoded.as_ref();
        load(self, |buf| {
            let len = decode_base64(engine, encoded, buf)?;
            if Self::EXACT && len != Self::CAPACITY {
                return Err(Error::Decode {
                    encoding: "base64",
                    offset: None,
                    reason: "it decodes to fewer bytes than the secret holds",
                });
            }
            Ok(len)
        })
    }

    /// The value of environment variable `name`, into the field: exactly `N`
    /// bytes for a `[u8; N]`, up to `N` for a `Text<N>` or `Bytes<N>`.
    ///
    /// What is copied where: `std::env::var_os` copies the value out of the
    /// environment into a heap buffer it hands siegel; siegel copies it into
    /// the field and wipes that buffer (its whole capacity) before returning,
    /// on success and on error. The environment's own copy is outside siegel's
    /// reach (and `/proc/self/environ` shows the value the process started
    /// with): prefer a file or stdin ([`load_from`](Self::load_from)) for
    /// secrets, or see [`Protected::from_env_removed_in`].
    ///
    /// # Errors
    ///
    /// [`Error::EnvVarMissing`]; for a `[u8; N]` [`Error::ShortRead`] or
    /// [`Error::TrailingInput`] (not `N` bytes); for a `Text` or `Bytes`
    /// [`Error::CapacityExceeded`]; [`Error::InvalidUtf8`] (`Text`). The field
    /// is then wiped.
    fn load_env(&mut self, name: &str) -> Result<(), Error> {
        let value =
            std::env::var_os(name).ok_or_else(|| Error::EnvVarMissing { name: name.to_owned() })?;
        let mut bytes = value.into_encoded_bytes();
        let result = load(self, |buf| {
            let len = bytes.len();
            let expected = Self::CAPACITY;
            match buf.get_mut(..len) {
                Some(out) if !Self::EXACT || len == expected => {
                    out.copy_from_slice(&bytes);
                    Ok(len)
                }
                Some(_) => Err(Error::ShortRead { expected, read: len }),
                None if Self::EXACT => Err(Error::TrailingInput { expected }),
                None => Err(Error::CapacityExceeded { len, capacity: expected }),
            }
        });
        wipe_vec(&mut bytes);
        result
    }
}

/// Wipes `field`, lets `write` fill the start of it and say how many bytes it
/// wrote, and takes them as the value; on any error the field is wiped again.
fn load<F: ?Sized + sealed::Field>(
    field: &mut F,
    write: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
) -> Result<(), Error> {
    let result = write(field.wiped()).and_then(|len| field.set_loaded(len));
    if result.is_err() {
        field.wiped();
    }
    result
}

/// Reads `reader` to its end into `buf`: exactly `capacity` bytes if `exact`,
/// else up to `capacity`; returns how many.
fn read_all(
    mut reader: impl Read,
    buf: &mut [u8],
    capacity: usize,
    exact: bool,
) -> Result<usize, Error> {
    let mut read = 0;
    while read < buf.len() {
        match reader.read(&mut buf[read..]) {
            Ok(0) if exact => return Err(Error::ShortRead { expected: capacity, read }),
            Ok(0) => return Ok(read),
            Ok(n) => read += n.min(buf.len() - read),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(Error::Read { read, source }),
        }
    }
    // Full: the input must end here. One more byte tells, and is wiped.
    let mut probe = [0u8; 1];
    let more = loop {
        match reader.read(&mut probe) {
            Ok(n) => break n > 0,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(Error::Read { read, source }),
        }
    };
    wipe_bytes(&mut probe);
    match (more, exact) {
        (false, _) => Ok(read),
        (true, true) => Err(Error::TrailingInput { expected: capacity }),
        (true, false) => Err(Error::LimitExceeded { limit: capacity }),
    }
}

impl<const N: usize> sealed::Field for [u8; N] {
    const CAPACITY: usize = N;
    const EXACT: bool = true;

    fn wiped(&mut self) -> &mut [u8] {
        wipe_bytes(self);
        self
    }

    fn set_loaded(&mut self, len: usize) -> Result<(), Error> {
        // Every loader checks an array's length before it reports success.
        debug_assert_eq!(len, N);
        Ok(())
    }
}
impl<const N: usize> Load for [u8; N] {}

impl<T: ?Sized + Loadable> Protected<T> {
    /// Reads `reader` to its end straight into a new secret in `place`, at
    /// most `limit` bytes, with no intermediate buffer: the secret grows by
    /// reallocation in `place` (a larger one, a copy with both open, the old one
    /// wiped) and is trimmed to the exact length at the end. Text (`str`) is
    /// checked to be UTF-8 before the handle exposes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Protected};
    ///
    /// # let dir = std::env::temp_dir().join(format!("siegel-doc-{}", std::process::id()));
    /// # std::fs::write(&dir, b"key material").unwrap();
    /// let file = std::fs::File::open(&dir)?;
    /// let key = Protected::<[u8]>::read_from_in(Dedicated, file, 4096)?;
    /// assert_eq!(&*key.read()?, b"key material");
    /// # std::fs::remove_file(&dir).unwrap();
    ///
    /// let stdin_like: &[u8] = b"passphrase";
    /// let pass = Protected::<str>::read_from_in(Dedicated, stdin_like, 1024)?;
    /// assert_eq!(&*pass.read()?, "passphrase");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] (more than `limit` bytes), [`Error::Read`] (the
    /// reader failed), [`Error::InvalidUtf8`] (text only), or any error of
    /// [`Protected::zeroed_slice_in`]. What was read is wiped first.
    pub fn read_from_in(place: impl Place, reader: impl Read, limit: usize) -> Result<Self, Error> {
        T::from_bytes(read_slice(home(&place), reader, limit)?)
    }

    /// The value of environment variable `name`, as bytes or text, in `place`.
    ///
    /// The environment's own copy is outside siegel's reach: the process keeps
    /// it (and `/proc/self/environ` shows the value the process started with)
    /// whatever happens here. siegel wipes the copy `std::env::var_os` hands it.
    /// Prefer a file or stdin ([`read_from_in`](Self::read_from_in)) for
    /// secrets; see [`from_env_removed_in`](Self::from_env_removed_in) to unset
    /// the variable.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Protected};
    ///
    /// # std::env::set_var("DOC_SIEGEL_KEY", "s3cret");
    /// let key = Protected::<[u8]>::from_env_in(Dedicated, "DOC_SIEGEL_KEY")?;
    /// assert_eq!(&*key.read()?, b"s3cret");
    /// let text = Protected::<str>::from_env_in(Dedicated, "DOC_SIEGEL_KEY")?;
    /// assert_eq!(&*text.read()?, "s3cret");
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::EnvVarMissing`], [`Error::InvalidUtf8`] (text only), or any
    /// error of [`Protected::zeroed_slice_in`].
    pub fn from_env_in(place: impl Place, name: &str) -> Result<Self, Error> {
        T::from_bytes(env_slice(home(&place), name)?)
    }

    /// As [`from_env_in`](Self::from_env_in), then removes the variable from
    /// the environment (`std::env::remove_var`), so child processes and later
    /// lookups do not see it. The memory that held it is not wiped by the C
    /// library, and `/proc/self/environ` still shows the initial environment.
    ///
    /// # Safety
    ///
    /// As for [`std::env::remove_var`]: no other thread may read or write the
    /// environment at the same time (through `std::env` or through C code such as
    /// `getenv`), which in practice means calling it before spawning threads.
    ///
    /// # Errors
    ///
    /// As [`from_env_in`](Self::from_env_in); the variable is removed only on
    /// success.
    pub unsafe fn from_env_removed_in(place: impl Place, name: &str) -> Result<Self, Error> {
        let secret = Self::from_env_in(place, name)?;
        remove_env(name);
        Ok(secret)
    }
}

/// `std::env::remove_var(name)`; the caller upholds its safety contract.
fn remove_env(name: &str) {
    #[allow(
        unused_unsafe,
        reason = "`remove_var` is an unsafe fn from edition 2024 on; this crate is 2021"
    )]
    // SAFETY:
    // - no other thread accesses the environment now: the contract of the
    //   caller (`from_env_removed_in`), which repeats `remove_var`'s.
    unsafe {
        std::env::remove_var(name);
    }
}

impl<T: ?Sized + Decodable> Protected<T> {
    /// Decodes hex (either case) straight into a new secret in `place`: any
    /// even number of digits for `[u8]`, exactly `2 * N` for `[u8; N]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Protected};
    ///
    /// let key = Protected::<[u8]>::from_hex_in(Dedicated, "00ff10")?;
    /// assert_eq!(&*key.read()?, &[0x00, 0xff, 0x10]);
    /// let array = Protected::<[u8; 4]>::from_hex_in(Dedicated, "DEADbeef")?;
    /// assert_eq!(*array.read()?, [0xde, 0xad, 0xbe, 0xef]);
    /// assert!(Protected::<[u8; 4]>::from_hex_in(Dedicated, "dead").is_err());
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] (odd length, a non-hex character, not `N` bytes), or
    /// any error of [`Protected::zeroed_slice_in`].
    #[cfg(feature = "hex")]
    pub fn from_hex_in(place: impl Place, encoded: impl AsRef<[u8]>) -> Result<Self, Error> {
        T::hex(home(&place), encoded.as_ref())
    }

    /// Decodes base64 with `engine` (for example
    /// [`base64::engine::general_purpose::STANDARD`], re-exported as
    /// `siegel::base64`) straight into a new secret in `place`: as many bytes
    /// as it decodes to for `[u8]`, exactly `N` for `[u8; N]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{base64::engine::general_purpose::STANDARD, Dedicated, Protected};
    ///
    /// let token = Protected::<[u8]>::from_base64_in(Dedicated, &STANDARD, "Zm9vYmFy")?;
    /// assert_eq!(&*token.read()?, b"foobar");
    /// let key = Protected::<[u8; 6]>::from_base64_in(Dedicated, &STANDARD, "Zm9vYmFy")?;
    /// assert_eq!(&*key.read()?, b"foobar");
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] (malformed, or not `N` bytes), or any error of
    /// [`Protected::zeroed_slice_in`].
    #[cfg(feature = "base64")]
    pub fn from_base64_in(
        place: impl Place,
        engine: &impl base64::Engine,
        encoded: impl AsRef<[u8]>,
    ) -> Result<Self, Error> {
        T::base64(home(&place), engine, encoded.as_ref())
    }
}

impl<T: Plain + AnyBitPattern> Protected<T> {
    /// Reads exactly `size_of::<T>()` bytes from `reader` straight into a new
    /// secret in `place` (a fixed-size handshake secret from a stream); the
    /// rest is left in the reader.
    ///
    /// # Examples
    ///
    /// ```
    /// use siegel::{Dedicated, Protected};
    ///
    /// let mut stream: &[u8] = &[7; 40];
    /// let key = Protected::<[u8; 32]>::read_exact_from_in(Dedicated, &mut stream)?;
    /// assert_eq!(key.read()?[31], 7);
    /// assert_eq!(stream.len(), 8); // the rest is left in the reader
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// For a key file that must be exactly the key — a trailing newline is an
    /// error, not ignored — load the whole input into the array
    /// ([`Load::load_from`]):
    ///
    /// ```
    /// use siegel::{Dedicated, Load, Protected};
    ///
    /// let key_file: &[u8] = &[7; 33]; // 32 bytes and a newline
    /// let key = Protected::<[u8; 32]>::init_with_in(Dedicated, |k| k.load_from(key_file));
    /// assert!(matches!(key, Err(siegel::Error::TrailingInput { expected: 32 })));
    /// # Ok::<(), siegel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ShortRead`] (the reader ended first), [`Error::Read`], or any
    /// error of [`Protected::zeroed_in`]. What was read is wiped first.
    pub fn read_exact_from_in(place: impl Place, reader: impl Read) -> Result<Self, Error> {
        read_exact(home(&place), reader)
    }
}
