//! serde: deserializing straight into protected memory, owned buffers wiped,
//! error messages that never quote the secret, `Serialize` only by opt-in.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use serde::de::{value::Error as ValueError, Deserialize, IntoDeserializer};
use siegel::{protected, Bytes, InPlace, Protected, Text};

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
    let login = Protected::<Login>::try_init_with(|l| {
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
