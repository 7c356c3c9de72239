//! serde: deserializing straight into protected memory, owned buffers wiped,
//! error messages that never quote the secret, `Serialize` only by opt-in.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

use std::fmt::Write as _;

use serde::de::{value::Error as ValueError, Deserialize, IntoDeserializer};
use siegel::{protected, Bytes, CtEq, Dedicated, InPlace, Protected, Text};
use support::read_own_memory;

#[test]
fn json_into_protected_forms() {
    let key: Protected<[u8; 4]> = serde_json::from_str("[1, 2, 3, 4]").unwrap();
    assert_eq!(*key.read().unwrap(), [1, 2, 3, 4]);
    let slice: Protected<[u8]> = serde_json::from_str("[5, 6, 7]").unwrap();
    assert_eq!(&*slice.read().unwrap(), &[5, 6, 7]);
    let text: Protected<str> = serde_json::from_str(r#""p\u00e4ss""#).unwrap();
    assert_eq!(&*text.read().unwrap(), "päss");
    let inline: Protected<Text<8>> = serde_json::from_str(r#""short""#).unwrap();
    assert_eq!(inline.read().unwrap().as_str(), "short");
    let bytes: Protected<Bytes<4>> = serde_json::from_str("[9, 8]").unwrap();
    assert_eq!(bytes.read().unwrap().as_bytes(), &[9, 8]);
    let words: Protected<[u32; 2]> = serde_json::from_str("[4000000000, 7]").unwrap();
    assert_eq!(*words.read().unwrap(), [4_000_000_000, 7]);
    let texts: Protected<[Text<4>; 2]> = serde_json::from_str(r#"["ab", "cd"]"#).unwrap();
    assert_eq!(texts.read().unwrap()[1].as_str(), "cd");
    let flag: Protected<bool> = serde_json::from_str("true").unwrap();
    assert!(*flag.read().unwrap());
    let real: Protected<f64> = serde_json::from_str("2").unwrap();
    assert!((*real.read().unwrap() - 2.0).abs() < f64::EPSILON);
}

#[test]
fn byte_arrays_take_byte_strings_of_the_exact_length() {
    let de = serde::de::value::BytesDeserializer::<ValueError>::new(b"\x01\x02\x03");
    let key = Protected::<[u8; 3]>::deserialize(de).unwrap();
    assert_eq!(*key.read().unwrap(), [1, 2, 3]);
    let de = serde::de::value::BytesDeserializer::<ValueError>::new(b"\x01\x02");
    let err = Protected::<[u8; 3]>::deserialize(de).unwrap_err();
    assert!(err.to_string().contains("invalid length 2"), "{err}");
    // Bytes are not a sequence of `u16`s.
    let de = serde::de::value::BytesDeserializer::<ValueError>::new(b"\x01\x02");
    let err = Protected::<[u16; 1]>::deserialize(de).unwrap_err();
    assert!(err.to_string().contains("invalid type: bytes"), "{err}");
}

#[test]
fn a_long_sequence_grows_the_region() {
    let numbers: Vec<String> = (0..3000).map(|i| (i % 256).to_string()).collect();
    let json = format!("[{}]", numbers.join(","));
    let slice: Protected<[u8]> = serde_json::from_str(&json).unwrap();
    assert_eq!(slice.len(), 3000);
    assert_eq!(slice.read().unwrap()[2999], u8::try_from(2999 % 256).unwrap());
}

#[test]
fn bad_input_is_an_error_that_does_not_quote_it() {
    let err = serde_json::from_str::<Protected<[u8; 4]>>("[1, 2, 3]").unwrap_err();
    assert!(err.to_string().contains("invalid length 3"), "{err}");
    assert!(serde_json::from_str::<Protected<[u8; 2]>>("[1, 2, 3]").is_err());
    let err = serde_json::from_str::<Protected<Text<4>>>(r#""toolong-secret""#).unwrap_err();
    assert!(!err.to_string().contains("toolong"), "{err}");
    assert!(err.to_string().contains("capacity 4"), "{err}");
    let err = serde_json::from_str::<Protected<[u8; 4]>>(r#""hunter2""#).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = serde_json::from_str::<Protected<[u8; 2]>>(r#"[1, "hunter2"]"#).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = serde_json::from_str::<Protected<Bytes<4>>>(r#"[1, "hunter2"]"#).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = serde_json::from_str::<Protected<u8>>("300").unwrap_err();
    assert!(err.to_string().contains("out of range") && !err.to_string().contains("300"), "{err}");
    let err = serde_json::from_str::<Protected<Text<8>>>("12345").unwrap_err();
    assert!(!err.to_string().contains("12345"), "{err}");
    let err =
        serde_json::from_str::<Protected<Bytes<8>>>("[1, 2, 3, 4, 5, 6, 7, 8, 9]").unwrap_err();
    assert!(err.to_string().contains("capacity 8"), "{err}");
    let err = serde_json::from_str::<Protected<str>>("[104, 105]").unwrap_err();
    assert!(err.to_string().contains("sequence"), "{err}");
    // Bytes that are not UTF-8.
    let de = serde::de::value::BytesDeserializer::<ValueError>::new(b"ok\xff");
    let err = Protected::<str>::deserialize(de).unwrap_err();
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

#[test]
fn owned_strings_handed_over_are_wiped() {
    // `serde_json::Value` hands its `String` over by value (`visit_string`).
    let value = serde_json::Value::String(String::from("owned secret"));
    let text: Protected<str> = serde_json::from_value(value).unwrap();
    assert_eq!(&*text.read().unwrap(), "owned secret");
    // `StringDeserializer` does too; its buffer must be empty afterwards.
    let de: serde::de::value::StringDeserializer<ValueError> =
        String::from("another").into_deserializer();
    let inline = Protected::<Text<16>>::deserialize(de).unwrap();
    assert_eq!(inline.read().unwrap().as_str(), "another");
}

#[protected]
struct Login {
    user: Text<16>,
    password: Text<32>,
}

#[test]
fn fields_deserialize_in_place() {
    let login = Protected::<Login>::init_with_in(Dedicated, |l| {
        let mut de = serde_json::Deserializer::from_str(r#""alice""#);
        serde::de::DeserializeSeed::deserialize(InPlace(l.user_mut()), &mut de)?;
        let mut de = serde_json::Deserializer::from_str(r#""s3cret""#);
        serde::de::DeserializeSeed::deserialize(InPlace(l.password_mut()), &mut de)?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
    .unwrap();
    let l = login.read().unwrap();
    assert_eq!(l.user().as_str(), "alice");
    assert!(l.password().ct_eq("s3cret"));
}

/// A service's configuration: every field a secret, deserialized in one call.
#[protected(deserialize)]
struct Config {
    user: Text<16>,
    password: Text<32>,
    hmac_key: [u8; 8],
    otp_seed: Bytes<20>,
    port: u16,
    verbose: bool,
    nested: Inner,
}

#[protected(deserialize)]
struct Inner {
    pin: [u16; 2],
}

#[protected(deserialize)]
struct Key([u8; 4]);

#[protected(deserialize)]
struct Pair(u32, Text<8>);

#[test]
fn a_protected_struct_deserializes_in_one_call() {
    let json = r#"{
        "user": "alice", "password": "correct horse", "hmac_key": [1, 2, 3, 4, 5, 6, 7, 8],
        "otp_seed": [9, 9], "port": 8443, "verbose": true, "unknown": {"skipped": [1]},
        "nested": {"pin": [12, 34]}
    }"#;
    let config: Protected<Config> = serde_json::from_str(json).unwrap();
    let c = config.read().unwrap();
    assert_eq!(c.user().as_str(), "alice");
    assert!(c.password().ct_eq("correct horse"));
    assert_eq!(c.hmac_key(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(c.otp_seed().as_bytes(), &[9, 9]);
    assert_eq!((*c.port(), *c.verbose(), c.nested().pin()), (8443, true, &[12, 34]));

    let key: Protected<Key> = serde_json::from_str("[1, 2, 3, 4]").unwrap();
    assert_eq!(key.read().unwrap().get(), &[1, 2, 3, 4]);
    let pair: Protected<Pair> = serde_json::from_str(r#"[7, "seven"]"#).unwrap();
    assert_eq!((*pair.read().unwrap()._0(), pair.read().unwrap()._1().as_str()), (7, "seven"));
}

#[test]
fn a_protected_struct_reports_missing_repeated_and_misshapen_input() {
    let err = serde_json::from_str::<Protected<Inner>>("{}").unwrap_err();
    assert!(err.to_string().contains("missing field `pin`"), "{err}");
    let err =
        serde_json::from_str::<Protected<Inner>>(r#"{"pin": [1, 2], "pin": [3, 4]}"#).unwrap_err();
    assert!(err.to_string().contains("duplicate field `pin`"), "{err}");
    // A sequence in field order works, as with serde's derive; of the wrong
    // length it does not.
    let inner: Protected<Inner> = serde_json::from_str("[[5, 6]]").unwrap();
    assert_eq!(inner.read().unwrap().pin(), &[5, 6]);
    let err = serde_json::from_str::<Protected<Pair>>("[1]").unwrap_err();
    assert!(err.to_string().contains("invalid length 1"), "{err}");
    let err = serde_json::from_str::<Protected<Pair>>(r#"[1, "a", 2]"#).unwrap_err();
    assert!(err.to_string().contains("invalid length 3"), "{err}");
    // Wrong input inside is not quoted.
    let err = serde_json::from_str::<Protected<Inner>>(r#"{"pin": "hunter2"}"#).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = serde_json::from_str::<Protected<Config>>(r#""hunter2""#).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// 32 bytes no other test uses, salted, kept on the heap (a `Vec`) so that the
/// test's own frames never hold them.
fn needle(salt: u8) -> Vec<u8> {
    (0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(salt) | 0x80).collect()
}

/// `bytes` as a JSON array of numbers: the input text never holds the bytes.
fn json_numbers(bytes: &[u8]) -> String {
    let numbers: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("[{}]", numbers.join(","))
}

/// `text` as a JSON string of `\u00XX` escapes: the input never holds it;
/// `serde_json` unescapes it into its own heap buffer.
fn json_escaped(text: &[u8]) -> String {
    let escaped = text.iter().fold(String::new(), |mut out, b| {
        write!(out, "\\u{b:04x}").unwrap();
        out
    });
    format!("\"{escaped}\"")
}

/// Runs `f` 64 KiB deeper in this thread's stack than the caller, so that the
/// frames `f` leaves behind are below those of the scan that follows.
#[inline(never)]
#[allow(clippy::large_stack_arrays, reason = "the point: stack between the caller and `f`")]
fn deep<R>(f: impl FnOnce() -> R) -> R {
    let pad = [0u8; 64 * 1024];
    std::hint::black_box(&pad);
    f()
}

/// Whether a 16-byte window of `needle` is left in the 1 MiB of this thread's
/// stack below the caller's frame (the part a finished call leaves behind),
/// read through `/proc/self/mem` a page at a time (the bottom pages may not be
/// mapped).
fn left_on_the_stack(needle: &[u8]) -> bool {
    let marker = 0u8;
    let here = std::hint::black_box(&raw const marker).addr() & !4095;
    let scanned = (here - (1 << 20)..here - 4096).step_by(4096);
    // Each page with the 15 bytes after it, so that no window is split.
    let found = scanned
        .filter_map(|page| read_own_memory(page, 4096 + 15).ok())
        .any(|bytes| bytes.windows(16).any(|window| needle.windows(16).any(|part| part == window)));
    found
}

#[protected(deserialize)]
struct Residue {
    key: [u8; 32],
    password: Text<32>,
}

#[test]
fn a_protected_struct_deserialized_in_one_call_leaves_no_copy_on_the_stack() {
    // The control: serde's by-value deserialization leaves the key in the frames
    // it used, so the scan can see what it looks for.
    let control = needle(11);
    let json = json_numbers(&control);
    deep(|| {
        let key: [u8; 32] = serde_json::from_str(&json).unwrap();
        std::hint::black_box(&key);
    });
    assert!(left_on_the_stack(&control), "the scan does not see a by-value copy");

    // In place: every byte goes straight into the region.
    let (key, password) = (needle(23), needle(47));
    let password = &password[..].iter().map(|b| b'a' + b % 26).collect::<Vec<u8>>();
    let json =
        format!(r#"{{"key": {}, "password": {}}}"#, json_numbers(&key), json_escaped(password));
    let secret = deep(|| serde_json::from_str::<Protected<Residue>>(&json).unwrap());
    assert!(!left_on_the_stack(&key), "a copy of the key was left on the stack");
    assert!(!left_on_the_stack(password), "a copy of the password was left on the stack");
    let guard = secret.read().unwrap();
    assert_eq!(&guard.key()[..], &key[..]);
    assert_eq!(guard.password().as_bytes(), &password[..]);
}
