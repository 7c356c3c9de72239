//! Text secrets: `Protected<str>` (UTF-8 checked on the way in, `&mut str` on
//! the way through), `Text<N>` / `Bytes<N>` fields of `#[protected]` structs,
//! and one-time secrets (`read_once`).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod support;

use siegel::{protected, Bytes, CtEq, Dedicated, Error, Pool, Protected, Text};
use support::{backends, opts, read_own_memory};

#[protected]
struct Login {
    user: Text<16>,
    password: Text<32>,
    otp_seed: Bytes<20>,
}

#[protected]
struct Key([u8; 32]);

#[test]
fn take_string_moves_the_text_and_wipes_the_source() {
    for backend in backends("take_string_moves_the_text_and_wipes_the_source") {
        let mut typed = String::from("pässword");
        let password = Protected::<str>::take_in(opts(backend), &mut typed).unwrap();
        assert!(typed.is_empty(), "the source is emptied");
        assert!(typed.capacity() >= "pässword".len(), "and keeps its buffer (wiped, not freed)");
        assert_eq!(password.len(), "pässword".len());
        let guard = password.read().unwrap();
        let text: &str = &guard;
        assert_eq!(text, "pässword");
        assert!(guard.ct_eq("pässword"));
        assert!(!guard.ct_eq("password"));
        drop(guard);
        assert!(password.read().unwrap().ct_eq("pässword"));
    }
}

#[test]
fn a_write_scope_on_text_hands_out_mut_str() {
    let mut s = String::from("Hunter2");
    let mut secret = Protected::<str>::take_in(Dedicated, &mut s).unwrap();
    secret.write().unwrap().make_ascii_uppercase();
    assert_eq!(&*secret.read().unwrap(), "HUNTER2");
    let rotated = secret.rotate().unwrap();
    assert_eq!(&*rotated.read().unwrap(), "HUNTER2");
    assert_eq!(format!("{rotated:?}"), "Protected<str, NoAccess>([REDACTED])");
}

#[test]
fn text_that_is_not_utf8_is_an_error_and_the_bytes_are_gone() {
    // The reader is handed the protected buffer; remember where it was.
    struct Spy<'a> {
        data: &'a [u8],
        seen: Option<core::ops::Range<usize>>,
    }
    impl std::io::Read for Spy<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let start = buf.as_ptr().addr();
            self.seen = Some(start..start + self.data.len());
            self.data.read(buf)
        }
    }
    let mut spy = Spy { data: b"ok so far \xff\xfe tail", seen: None };
    let err = Protected::<str>::read_from_in(Dedicated, &mut spy, 1024).unwrap_err();
    assert!(matches!(err, Error::InvalidUtf8 { valid_up_to: 10 }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("not valid UTF-8") && !msg.contains("so far"), "{msg}");
    let seen = spy.seen.unwrap();
    if let Ok(bytes) = read_own_memory(seen.start, seen.len()) {
        assert!(!bytes.windows(5).any(|w| w == b"so fa"), "the bytes read are still there");
    }
}

#[test]
fn text_fields_in_a_protected_struct() {
    let mut typed = String::from("correct horse battery staple");
    let mut login = Protected::<Login>::init_with_in(Dedicated, |l| {
        l.user_mut().try_set("alice")?;
        l.password_mut().set_from(&mut typed)?;
        l.otp_seed_mut().try_set(b"12345678901234567890")
    })
    .unwrap();
    assert!(typed.is_empty());
    {
        let l = login.read().unwrap();
        assert_eq!(l.user().as_str(), "alice");
        assert_eq!(l.user().len(), 5);
        assert!(l.password().ct_eq("correct horse battery staple"));
        assert!(!l.password().ct_eq("correct horse battery stapl"));
        assert_eq!(l.otp_seed().as_bytes(), b"12345678901234567890");
    }
    let err = login.write().unwrap().user_mut().try_push_str("-and-a-long-suffix").unwrap_err();
    assert!(matches!(err, Error::CapacityExceeded { len: 23, capacity: 16 }), "{err:?}");
    assert!(err.to_string().contains("Text<N>"), "{err}");
    assert_eq!(login.read().unwrap().user().as_str(), "alice", "a failed push changes nothing");
    login.write().unwrap().password_mut().clear();
    assert!(login.read().unwrap().password().is_empty());
    assert_eq!(format!("{:?}", login.read().unwrap().user()), "Text<16>([REDACTED])");
}

#[test]
fn an_oversized_string_is_refused_and_left_untouched() {
    let mut long = "x".repeat(33);
    let err =
        Protected::<Text<32>>::init_with_in(Dedicated, |t| t.set_from(&mut long)).unwrap_err();
    assert!(matches!(err, Error::CapacityExceeded { len: 33, capacity: 32 }), "{err:?}");
    assert_eq!(long.len(), 33, "the source is left alone on error");
}

#[test]
fn text_compares_in_constant_time_as_a_whole() {
    let a = Protected::<Text<8>>::init_with_in(Dedicated, |t| t.try_set("abc")).unwrap();
    let b = Protected::<Text<8>>::init_with_in(Dedicated, |t| t.try_set("abc")).unwrap();
    let c = Protected::<Text<8>>::init_with_in(Dedicated, |t| t.try_set("abd")).unwrap();
    let (a, b, c) = (a.read().unwrap(), b.read().unwrap(), c.read().unwrap());
    assert!(CtEq::ct_eq(&*a, b.as_str()));
    assert!(!CtEq::ct_eq(&*a, c.as_str()));
    // A guard of a `Text` compares with a `&str`, as the `Text` itself does
    // (#28: every `ct_eq` is a method of an open secret and returns `bool`).
    assert!(a.ct_eq("abc"));
    assert!(!a.ct_eq("abd"));
    let mut bytes = Protected::<Bytes<8>>::init_with_in(Dedicated, |b| b.try_set(b"pin")).unwrap();
    assert!(bytes.read().unwrap().ct_eq(b"pin"));
    assert!(!bytes.write().unwrap().ct_eq(b"pun"));
}

#[test]
fn newtype_keys_and_pooled_text() {
    let pool = Pool::new();
    let key =
        Protected::init_with_in(&pool, |k: &mut Key| siegel::fill_random(k.get_mut())).unwrap();
    assert!(key.info().pooled);
    assert_ne!(key.read().unwrap().get(), &[0; 32]);
    let mut s = String::from("pooled token");
    let token = Protected::<str>::take_in(&pool, &mut s).unwrap();
    assert!(token.info().pooled && s.is_empty());
    assert_eq!(&*token.read().unwrap(), "pooled token");
}

#[test]
fn read_once_consumes_and_wipes() {
    const PATTERN: [u8; 16] = *b"one-time-secret!";
    for backend in backends("read_once_consumes_and_wipes") {
        let pool = Pool::with_options(opts(backend));
        let dedicated =
            Protected::init_with_in(opts(backend), |k: &mut [u8; 16]| *k = PATTERN).unwrap();
        let pooled = Protected::init_with_in(&pool, |k: &mut [u8; 16]| *k = PATTERN).unwrap();
        let _neighbour = Protected::<[u8; 16]>::zeroed_in(&pool).unwrap();
        for (what, secret) in [("dedicated", dedicated), ("pooled", pooled)] {
            let at = secret.info().secret;
            assert_eq!(secret.read_once(|k| *k).unwrap(), PATTERN);
            if let Ok(bytes) = read_own_memory(at.start, at.len()) {
                assert_ne!(bytes, PATTERN, "{backend:?} {what}: still in memory after read_once");
            }
        }
    }
}

#[test]
fn read_once_wipes_when_the_closure_panics() {
    const PATTERN: [u8; 16] = *b"panicking-reader";
    let secret = Protected::<[u8; 16]>::init_with_in(Dedicated, |k| *k = PATTERN).unwrap();
    let at = secret.info().secret;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        secret.read_once(|_| panic!("siegel: test panic inside read_once")).ok();
    }));
    assert!(caught.is_err());
    if let Ok(bytes) = read_own_memory(at.start, at.len()) {
        assert_ne!(bytes, PATTERN, "still in memory after a panic in read_once");
    }
    // The scope was closed on unwinding: a new secret opens normally.
    let other = Protected::<[u8; 16]>::zeroed_in(Dedicated).unwrap();
    assert_eq!(*other.read().unwrap(), [0; 16]);
}
