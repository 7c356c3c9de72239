//! Secrets loaded and generated in place. A counting global allocator watches
//! this thread during each load: siegel must not put the secret in a heap buffer
//! of its own (no allocation as large as the first region it reads into), and
//! buffers handed in (`String`s, owned `Vec`s) must be all zero when freed.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]
#![allow(unsafe_code, reason = "a global allocator that inspects what it frees")]

mod support;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    io::{self, Read},
};

use siegel::{Dedicated, Error, Load, Options, Pool, Protected};
use support::{backends, opts, read_own_memory};

/// The system allocator, plus per-thread observation while `WATCH` is on.
struct Counting;

/// Allocation sizes below this are recorded one by one.
const SIZES: usize = 4096;

thread_local! {
    static WATCH: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    /// A bit per allocation size below `SIZES` seen while watching.
    static SEEN: [Cell<u64>; SIZES / 64] = const { [const { Cell::new(0) }; SIZES / 64] };
    /// Frees of this secret's exact size are checked for leftover secret bytes.
    static CHECK_FREE: Cell<&'static [u8]> = const { Cell::new(&[]) };
    static DIRTY_FREES: Cell<usize> = const { Cell::new(0) };
    static CHECKED_FREES: Cell<usize> = const { Cell::new(0) };
}

// SAFETY:
// - every call forwards to `System` with the same arguments; the extra
//   bookkeeping only touches const-initialised thread locals (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCH.with(Cell::get) {
            let size = layout.size();
            LARGEST.with(|l| l.set(l.get().max(size)));
            if size < SIZES {
                SEEN.with(|seen| {
                    let word = &seen[size / 64];
                    word.set(word.get() | 1 << (size % 64));
                });
            }
        }
        // SAFETY:
        // - forwarded unchanged: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let secret = CHECK_FREE.with(Cell::get);
        if !secret.is_empty() && layout.size() == secret.len() {
            CHECKED_FREES.with(|c| c.set(c.get() + 1));
            // A copy of the secret, wiped or not: every byte is the secret's
            // byte at that place or zero. It is dirty if any secret byte is
            // left. Other buffers of the same size (a revocation round's
            // thread-id list, freed on this thread mid-load) are not copies.
            let mut left = 0;
            let mut copy = true;
            for (i, &want) in secret.iter().enumerate() {
                // SAFETY:
                // - `i < layout.size()`: inside the live allocation at `ptr`.
                let byte = unsafe { ptr.add(i) };
                // SAFETY:
                // - `byte` is in a live allocation, valid for reads; the tests
                //   only check buffers whose every byte was written (a `String`
                //   or `Vec` whose capacity equals its length).
                match unsafe { byte.read_volatile() } {
                    0 => {}
                    b if b == want => left += 1,
                    _ => copy = false,
                }
            }
            if copy && left > 0 {
                DIRTY_FREES.with(|d| d.set(d.get() + 1));
            }
        }
        // SAFETY:
        // - forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with this thread's allocations watched; returns its result and the
/// largest allocation it made.
fn watched<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|l| l.set(0));
    SEEN.with(|seen| seen.iter().for_each(|w| w.set(0)));
    WATCH.with(|w| w.set(true));
    let r = f();
    WATCH.with(|w| w.set(false));
    (r, LARGEST.with(Cell::get))
}

/// Whether the last [`watched`] call allocated exactly `size` bytes. siegel's
/// own allocations are metadata (a boxed region descriptor, free lists); a
/// buffer of exactly the secret's size would be a copy of it.
fn allocated(size: usize) -> bool {
    assert!(size < SIZES);
    SEEN.with(|seen| seen[size / 64].get() & 1 << (size % 64) != 0)
}

/// Checks that no buffer freed during `f` still held `secret` (whole or in
/// part: wiped copies are all zero), and that at least one buffer of its size
/// was freed. Returns `f`'s result.
fn frees_are_zero<R>(secret: &'static [u8], f: impl FnOnce() -> R) -> R {
    let size = secret.len();
    DIRTY_FREES.with(|d| d.set(0));
    CHECKED_FREES.with(|c| c.set(0));
    CHECK_FREE.with(|c| c.set(secret));
    let r = f();
    CHECK_FREE.with(|c| c.set(&[]));
    assert!(CHECKED_FREES.with(Cell::get) > 0, "no buffer of {size} bytes was freed");
    assert_eq!(DIRTY_FREES.with(Cell::get), 0, "a buffer of {size} bytes was freed unwiped");
    r
}

/// A reader that hands out `data` at most `chunk` bytes at a time (with an
/// `Interrupted` now and then), fails with `fail_at` after that many bytes,
/// and remembers every buffer it was given.
struct Source<'a> {
    data: &'a [u8],
    chunk: usize,
    fail_at: Option<usize>,
    given: usize,
    calls: usize,
    buffers: Vec<core::ops::Range<usize>>,
}

impl<'a> Source<'a> {
    fn new(data: &'a [u8], chunk: usize) -> Self {
        Self { data, chunk, fail_at: None, given: 0, calls: 0, buffers: Vec::with_capacity(64) }
    }
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        if self.buffers.len() < self.buffers.capacity() {
            let start = buf.as_ptr().addr();
            self.buffers.push(start..start + buf.len());
        }
        if self.fail_at.is_some_and(|at| self.given >= at) {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer went away"));
        }
        let n = buf.len().min(self.chunk).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.given += n;
        Ok(n)
    }
}

/// `len` bytes no other test of this binary uses: `salt` differs per test, so a
/// region another test maps at an address this one freed never holds bytes this
/// test looks for (the suite runs in parallel threads).
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i % 251).unwrap().wrapping_mul(salt | 1).wrapping_add(salt))
        .collect()
}

/// Whether any 16-byte window of `needle` is readable in `range`.
fn still_there(range: &core::ops::Range<usize>, needle: &[u8]) -> bool {
    match read_own_memory(range.start, range.len()) {
        Ok(bytes) => bytes.windows(16).any(|w| needle.windows(16).any(|n| n == w)),
        Err(_) => false, // unmapped
    }
}

#[test]
fn a_reader_load_grows_in_protected_memory_only() {
    let data = pattern(7777, 17);
    for backend in backends("a_reader_load_grows_in_protected_memory_only") {
        let mut source = Source::new(&data, 1000);
        let (secret, largest) = watched(|| {
            Protected::<[u8]>::read_from_in(opts(backend), &mut source, 10_000).unwrap()
        });
        assert_eq!(&*secret.read().unwrap(), &data[..]);
        assert_eq!(secret.len(), 7777);
        assert_eq!(secret.info().secret.len(), 7777, "trimmed: the guard page follows");
        assert!(largest < 1024, "{backend:?}: siegel allocated {largest} bytes during the load");
        // Every buffer the reader was given was inside a region, and the
        // regions it outgrew are gone.
        let now = secret.info().secret;
        for buffer in source.buffers.iter().filter(|b| !now.contains(&b.start)) {
            assert!(!still_there(buffer, &data), "{backend:?}: an outgrown region kept the data");
        }
    }
}

#[test]
fn the_limit_is_exact() {
    let data = pattern(300, 34);
    let exact = Protected::<[u8]>::read_from_in(Dedicated, &data[..], 300).unwrap();
    assert_eq!(exact.len(), 300);
    let err = Protected::<[u8]>::read_from_in(Dedicated, &data[..], 299).unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { limit: 299 }), "{err:?}");
    assert!(err.to_string().contains("Raise the limit"), "{err}");
    let empty = Protected::<[u8]>::read_from_in(Dedicated, io::empty(), 10).unwrap();
    assert!(empty.is_empty());
}

#[test]
fn a_reader_that_fails_halfway_leaves_nothing_behind() {
    let data = pattern(5000, 51);
    let mut source = Source::new(&data, 700);
    source.fail_at = Some(2100);
    let err = Protected::<[u8]>::read_from_in(Dedicated, &mut source, 100_000).unwrap_err();
    match &err {
        Error::Read { read, source: cause } => {
            assert_eq!(*read, source.given, "the count of bytes read before the failure");
            assert!(*read >= 2100);
            assert_eq!(cause.kind(), io::ErrorKind::ConnectionReset);
        }
        other => panic!("expected Error::Read, got {other:?}"),
    }
    assert!(std::error::Error::source(&err).is_some());
    for buffer in &source.buffers {
        assert!(!still_there(buffer, &data[..2100]), "a partly filled region survived");
    }
}

#[test]
fn a_reader_claiming_more_than_it_was_given_is_an_error() {
    struct Liar;
    impl Read for Liar {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            Ok(buf.len() + 1)
        }
    }
    let err = Protected::<[u8]>::read_from_in(Dedicated, Liar, 100).unwrap_err();
    assert!(
        matches!(&err, Error::Read { read: 0, source } if source.kind() == io::ErrorKind::InvalidData)
    );
}

#[test]
fn fixed_size_reads_report_short_input() {
    let data = pattern(40, 68);
    let key = Protected::<[u8; 32]>::read_exact_from_in(Dedicated, Source::new(&data, 5)).unwrap();
    assert_eq!(&key.read().unwrap()[..], &data[..32]);
    let words = Protected::<[u32; 2]>::read_exact_from_in(Dedicated, &[1, 0, 0, 0, 2, 0, 0, 0][..])
        .unwrap();
    assert_eq!(*words.read().unwrap(), [u32::from_le_bytes([1, 0, 0, 0]), 2u32.to_le()]);
    let err = Protected::<[u8; 64]>::read_exact_from_in(Dedicated, &data[..]).unwrap_err();
    assert!(matches!(err, Error::ShortRead { expected: 64, read: 40 }), "{err:?}");
    let pool = Pool::new();
    let pooled = Protected::<[u8; 16]>::read_exact_from_in(&pool, &data[..]).unwrap();
    assert!(pooled.info().pooled);
}

#[test]
fn pooled_reader_loads_stay_in_the_pool() {
    let pool = Pool::new();
    // The arena (and its metadata) exists before the load.
    let _neighbour = Protected::<[u8; 8]>::zeroed_in(&pool).unwrap();
    let data = pattern(1500, 85);
    let (secret, largest) =
        watched(|| Protected::<[u8]>::read_from_in(&pool, &data[..], 1600).unwrap());
    assert!(secret.info().pooled);
    assert_eq!(&*secret.read().unwrap(), &data[..]);
    assert!(largest < 1024, "siegel allocated {largest} bytes during the load");
    let text = Protected::<str>::read_from_in(&pool, &b"pooled text"[..], 64).unwrap();
    assert!(text.info().pooled);
    assert_eq!(&*text.read().unwrap(), "pooled text");
}

#[test]
fn hex_decodes_into_the_region() {
    let raw = pattern(37, 1);
    let encoded = hex::encode_upper(&raw);
    let (key, _) = watched(|| Protected::<[u8]>::from_hex_in(Dedicated, &encoded).unwrap());
    assert_eq!(&*key.read().unwrap(), &raw[..]);
    assert!(!allocated(37), "a heap buffer of the key's size was made");
    let small = Protected::<[u8]>::from_hex_in(Dedicated, "00ff10aB").unwrap();
    assert_eq!(&*small.read().unwrap(), &[0x00, 0xff, 0x10, 0xab]);
    let arr = Protected::<[u8; 2]>::from_hex_in(Options::default(), "beef").unwrap();
    assert_eq!(*arr.read().unwrap(), [0xbe, 0xef]);

    let err = Protected::<[u8]>::from_hex_in(Dedicated, "00Q1").unwrap_err();
    assert!(matches!(err, Error::Decode { encoding: "hex", offset: Some(2), .. }), "{err:?}");
    assert!(!err.to_string().contains('Q'), "the message quotes the input: {err}");
    let odd = Protected::<[u8]>::from_hex_in(Dedicated, "abc").unwrap_err();
    assert!(matches!(odd, Error::Decode { encoding: "hex", offset: None, .. }), "{odd:?}");
    let short = Protected::<[u8; 4]>::from_hex_in(Dedicated, "abcd").unwrap_err();
    assert!(matches!(short, Error::Decode { .. }), "{short:?}");
    assert!(Protected::<[u8]>::from_hex_in(Pool::new(), "0102").unwrap().info().pooled);
}

#[test]
fn base64_decodes_into_the_region() {
    use siegel::base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    // RFC 4648, section 10.
    let raw = pattern(37, 1);
    let encoded = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJQ==";
    let (key, _) =
        watched(|| Protected::<[u8]>::from_base64_in(Dedicated, &STANDARD, encoded).unwrap());
    assert_eq!(&*key.read().unwrap(), &raw[..]);
    assert!(!allocated(37) && !allocated(39), "a heap buffer of the key's size was made");
    for (encoded, decoded) in
        [("", ""), ("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYmE=", "fooba")]
    {
        let secret = Protected::<[u8]>::from_base64_in(Dedicated, &STANDARD, encoded).unwrap();
        assert_eq!(&*secret.read().unwrap(), decoded.as_bytes(), "{encoded}");
        assert_eq!(secret.info().secret.len(), decoded.len(), "trimmed to the decoded length");
    }
    let key = Protected::<[u8; 3]>::from_base64_in(Dedicated, &URL_SAFE_NO_PAD, "-_-_").unwrap();
    assert_eq!(*key.read().unwrap(), [0xfb, 0xff, 0xbf]);

    let err = Protected::<[u8]>::from_base64_in(Dedicated, &STANDARD, "Zm9v*mFy").unwrap_err();
    assert!(matches!(err, Error::Decode { encoding: "base64", offset: Some(4), .. }), "{err:?}");
    assert!(!err.to_string().contains('*'), "the message quotes the input: {err}");
    let long = Protected::<[u8; 2]>::from_base64_in(Dedicated, &STANDARD, "Zm9v").unwrap_err();
    assert!(matches!(long, Error::Decode { .. }), "{long:?}");
    let short = Protected::<[u8; 4]>::from_base64_in(Dedicated, &STANDARD, "Zm9v").unwrap_err();
    assert!(matches!(short, Error::Decode { .. }), "{short:?}");
    let pooled = Protected::<[u8; 3]>::from_base64_in(Pool::new(), &STANDARD, "Zm9v").unwrap();
    assert!(pooled.info().pooled);
}

/// A `#[protected]` struct with one field of each type `Load` fills.
#[siegel::protected]
struct Fields {
    key: [u8; 4],
    text: siegel::Text<8>,
    bytes: siegel::Bytes<8>,
}

#[test]
fn fields_decode_hex_and_base64_in_place() {
    use siegel::base64::engine::general_purpose::STANDARD;
    let mut fields = Protected::<Fields>::zeroed_in(Dedicated).unwrap();
    let ((), largest) = watched(|| {
        fields
            .with_write(|f| {
                f.key_mut().load_hex("DEADbeef")?;
                f.text_mut().load_base64(&STANDARD, "aMOpbGxv")?; // "héllo"
                f.bytes_mut().load_hex("0102")
            })
            .unwrap();
    });
    assert_eq!(largest, 0, "the loads allocated: no copy of the secret may be made");
    {
        let f = fields.read().unwrap();
        assert_eq!(*f.key(), [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(f.text().as_str(), "héllo");
        assert_eq!(f.bytes().as_bytes(), &[1, 2]);
    }
    let mut f = fields.write().unwrap();
    // Errors are the constructors' (`Protected::<[u8; 4]>::from_hex`), and
    // leave the field wiped, whatever it held.
    let err = f.key_mut().load_hex("dead").unwrap_err();
    assert!(matches!(err, Error::Decode { encoding: "hex", offset: None, .. }), "{err:?}");
    assert_eq!(*f.key(), [0; 4]);
    f.key_mut().load_base64(&STANDARD, "AQIDBA==").unwrap();
    assert_eq!(*f.key(), [1, 2, 3, 4]);
    let err = f.key_mut().load_base64(&STANDARD, "AQID").unwrap_err();
    assert!(matches!(err, Error::Decode { encoding: "base64", .. }), "{err:?}");
    assert_eq!(*f.key(), [0; 4]);
    let err = f.key_mut().load_hex("01020304zz").unwrap_err();
    assert!(matches!(err, Error::Decode { encoding: "hex", offset: None, .. }), "{err:?}");
    let err = f.text_mut().load_hex("c328").unwrap_err(); // not UTF-8
    assert!(matches!(err, Error::InvalidUtf8 { valid_up_to: 0 }), "{err:?}");
    assert!(f.text().is_empty());
    let err = f.bytes_mut().load_hex("010203040506070809").unwrap_err();
    assert!(matches!(err, Error::CapacityExceeded { len: 9, capacity: 8 }), "{err:?}");
    let err = f.bytes_mut().load_hex("01x2").unwrap_err();
    assert!(matches!(err, Error::Decode { encoding: "hex", offset: Some(2), .. }), "{err:?}");
    assert!(f.bytes().is_empty());
    let err = f.bytes_mut().load_base64(&STANDARD, "AQIDBAUGBwgJ").unwrap_err();
    assert!(matches!(err, Error::Decode { encoding: "base64", .. }), "{err:?}");
    f.bytes_mut().load_base64(&STANDARD, "Zm9vYmE=").unwrap();
    assert_eq!(f.bytes().as_bytes(), b"fooba");
}

#[test]
fn a_key_file_must_be_exactly_the_key() {
    use siegel::{Bytes, Text};
    let data = pattern(33, 69);
    // Exactly 32 bytes, in chunks of 5 with `Interrupted` between: accepted.
    let key = Protected::<[u8; 32]>::init_with_in(Dedicated, |k| {
        k.load_from(Source::new(&data[..32], 5))
    })
    .unwrap();
    assert_eq!(&key.read().unwrap()[..], &data[..32]);
    // A trailing newline (or any byte more) is refused, not truncated away.
    let mut with_newline = data[..32].to_vec();
    with_newline.push(b'\n');
    let err = Protected::<[u8; 32]>::init_with_in(Dedicated, |k| k.load_from(&with_newline[..]));
    assert!(matches!(err, Err(Error::TrailingInput { expected: 32 })), "{err:?}");
    assert!(err.unwrap_err().to_string().contains("trailing newline"));
    let err = Protected::<[u8; 32]>::init_with_in(Dedicated, |k| k.load_from(&data[..31]));
    assert!(matches!(err, Err(Error::ShortRead { expected: 32, read: 31 })), "{err:?}");
    // In a write scope: a failed load leaves the field wiped.
    let mut key = key;
    let err = key.with_write(|k| k.load_from(&data[..])).unwrap_err();
    assert!(matches!(err, Error::TrailingInput { expected: 32 }), "{err:?}");
    assert_eq!(*key.read().unwrap(), [0; 32]);
    // Text and Bytes take up to their capacity, keep the length, and refuse more.
    let text = Protected::<Text<16>>::init_with_in(Dedicated, |t| t.load_from(&b"pass phrase"[..]))
        .unwrap();
    assert_eq!(text.read().unwrap().as_str(), "pass phrase");
    let err = Protected::<Text<4>>::init_with_in(Dedicated, |t| t.load_from(&b"12345"[..]));
    assert!(matches!(err, Err(Error::LimitExceeded { limit: 4 })), "{err:?}");
    let err = Protected::<Text<4>>::init_with_in(Dedicated, |t| t.load_from(&b"\xff"[..]));
    assert!(matches!(err, Err(Error::InvalidUtf8 { valid_up_to: 0 })), "{err:?}");
    let full =
        Protected::<Bytes<33>>::init_with_in(Dedicated, |b| b.load_from(Source::new(&data, 7)))
            .unwrap();
    assert_eq!(full.read().unwrap().as_bytes(), &data[..]);
    let mut failing = Source::new(&data, 4);
    failing.fail_at = Some(8);
    let err = Protected::<Bytes<33>>::init_with_in(Dedicated, |b| b.load_from(failing));
    assert!(matches!(err, Err(Error::Read { read: 8, .. })), "{err:?}");
}

#[test]
fn take_string_leaves_a_zeroed_buffer_to_free() {
    let secret = frees_are_zero(b"a password of twenty-nine b.!", || {
        let mut typed = String::from("a password of twenty-nine b.");
        typed.push('!');
        typed.shrink_to_fit();
        assert_eq!(typed.capacity(), 29);
        let (secret, _) = watched(|| Protected::<str>::take_in(Dedicated, &mut typed).unwrap());
        assert!(!allocated(29), "a heap buffer of the secret's size was made");
        drop(typed);
        secret
    });
    assert_eq!(&*secret.read().unwrap(), "a password of twenty-nine b.!");
}

#[test]
fn environment_variables() {
    // Tests in this binary run in threads: only this test touches the
    // environment, under its own names.
    std::env::set_var("SIEGEL_TEST_LOAD_ENV", "env-secret");
    std::env::set_var("SIEGEL_TEST_LOAD_ENV_BIN", "bytes");
    let text = frees_are_zero(b"env-secret", || {
        Protected::<str>::from_env_in(Dedicated, "SIEGEL_TEST_LOAD_ENV").unwrap()
    });
    assert_eq!(&*text.read().unwrap(), "env-secret");
    let bytes = Protected::<[u8]>::from_env_in(Pool::new(), "SIEGEL_TEST_LOAD_ENV_BIN").unwrap();
    assert_eq!(&*bytes.read().unwrap(), b"bytes");
    let err = Protected::<[u8]>::from_env_in(Dedicated, "SIEGEL_TEST_LOAD_ENV_UNSET").unwrap_err();
    assert!(matches!(&err, Error::EnvVarMissing { name } if name == "SIEGEL_TEST_LOAD_ENV_UNSET"));

    // Into fields: std's copy (`var_os`'s buffer of the value's length) is
    // wiped before it is freed, on success and on error alike.
    std::env::set_var("SIEGEL_TEST_LOAD_ENV_KEY", "0123456789abcdef");
    let key = frees_are_zero(b"0123456789abcdef", || {
        Protected::<[u8; 16]>::init_with_in(Dedicated, |k| k.load_env("SIEGEL_TEST_LOAD_ENV_KEY"))
            .unwrap()
    });
    assert_eq!(&*key.read().unwrap(), b"0123456789abcdef");
    let short = frees_are_zero(b"0123456789abcdef", || {
        Protected::<[u8; 17]>::init_with_in(Dedicated, |k| k.load_env("SIEGEL_TEST_LOAD_ENV_KEY"))
    });
    assert!(matches!(short, Err(Error::ShortRead { expected: 17, read: 16 })), "{short:?}");
    let long =
        Protected::<[u8; 15]>::init_with_in(Dedicated, |k| k.load_env("SIEGEL_TEST_LOAD_ENV_KEY"));
    assert!(matches!(long, Err(Error::TrailingInput { expected: 15 })), "{long:?}");
    let mut fields = Protected::<Fields>::zeroed_in(Dedicated).unwrap();
    fields.with_write(|f| f.bytes_mut().load_env("SIEGEL_TEST_LOAD_ENV_BIN")).unwrap();
    assert_eq!(fields.read().unwrap().bytes().as_bytes(), b"bytes");
    let err = fields.with_write(|f| f.text_mut().load_env("SIEGEL_TEST_LOAD_ENV")).unwrap_err();
    assert!(matches!(err, Error::CapacityExceeded { len: 10, capacity: 8 }), "{err:?}");
    let err = fields.with_write(|f| f.text_mut().load_env("SIEGEL_TEST_LOAD_ENV_UNSET"));
    assert!(matches!(err, Err(Error::EnvVarMissing { .. })), "{err:?}");

    // SAFETY:
    // - no other test in this binary reads or writes the environment.
    let removed =
        unsafe { Protected::<str>::from_env_removed_in(Dedicated, "SIEGEL_TEST_LOAD_ENV") }
            .unwrap();
    assert_eq!(&*removed.read().unwrap(), "env-secret");
    assert!(std::env::var_os("SIEGEL_TEST_LOAD_ENV").is_none());
}

#[cfg_attr(miri, ignore = "runs in a child process, which Miri cannot spawn")]
#[test]
fn random_secrets_are_generated_in_place() {
    // In a child, after a first secret: under protection keys a new secret can
    // run a revocation round (which reads /proc into buffers of any size), at
    // the first secret or when other tests' secrets used up the clean keys.
    support::in_child("random_secrets_are_generated_in_place", &[], || {
        let _first = Protected::<[u8; 32]>::random_in(Dedicated).unwrap();
        random_secrets_are_generated_in_place_body();
    });
}

fn random_secrets_are_generated_in_place_body() {
    let (key, _) = watched(|| Protected::<[u8; 32]>::random_in(Dedicated).unwrap());
    assert!(!allocated(32), "a heap buffer of the key's size was made");
    let other = Protected::<[u8; 32]>::random_in(Dedicated).unwrap();
    assert_ne!(*key.read().unwrap(), [0; 32], "2^-256");
    assert_ne!(*key.read().unwrap(), *other.read().unwrap(), "2^-256");
    let words = Protected::<[u64; 4]>::random_in(Options::default()).unwrap();
    assert_ne!(*words.read().unwrap(), [0; 4]);
    let slice = Protected::<[u8]>::random_slice_in(Dedicated, 4000).unwrap();
    assert_eq!(slice.len(), 4000);
    assert!(slice.read().unwrap().iter().any(|&b| b != 0));
    let pool = Pool::new();
    let pooled = Protected::<[u8; 16]>::random_in(&pool).unwrap();
    let pooled_slice = Protected::<[u32]>::random_slice_in(&pool, 8).unwrap();
    assert!(pooled.info().pooled && pooled_slice.info().pooled);
    assert!(pooled_slice.read().unwrap().iter().any(|&w| w != 0));
    let mut buf = [0u16; 8];
    siegel::fill_random(&mut buf[..]).unwrap();
    assert_ne!(buf, [0; 8]);
}
