//! Every constructor in every place: one test per cell of the crate docs' table
//! (what to build × where). Each row names a constructor once; `cells!` writes
//! the three tests — a region of its own (`Dedicated`), with `Options` (page
//! protection, so the options visibly apply) and in a `Pool` (a slot) — and
//! each checks both where the secret went and what it holds.

use std::sync::Mutex;

use siegel::{
    base64::engine::general_purpose::STANDARD, Backend, Dedicated, Load, Mechanism, Options, Pool,
};

/// Tests that set and read environment variables take this first, so that no
/// two of them touch the environment at once (the harness runs tests in
/// parallel; std's own lock covers single calls, not a set-then-read pair).
static ENV: Mutex<()> = Mutex::new(());

/// Sets `name` to `value`, for a row that reads it back.
fn env(name: &'static str, value: &str) -> &'static str {
    std::env::set_var(name, value);
    name
}

/// Calls a constructor, in an `unsafe` block if the row says so.
macro_rules! call {
    (safe, $call:expr) => {
        $call
    };
    (unsafe, $call:expr) => {
        // SAFETY:
        // - the environment is read and written in this binary only through
        //   `std::env`, by tests holding `ENV`, which this one holds; no C code
        //   reads it meanwhile.
        unsafe { $call }
    };
}

/// `row: kind Protected<T>::form(args) => |secret| check;` becomes
/// `a_region_of_its_own::row`, `with_options::row` and `in_a_pool::row`: the
/// one constructor called with `Dedicated`, with `Options` and with `&pool`.
macro_rules! cells {
    ($(
        $row:ident: $kind:ident Protected<$ty:ty>::$form:ident($($arg:expr),*)
            => |$secret:ident| $check:expr;
    )*) => {
        mod a_region_of_its_own {
            use super::*;
            $(
                #[test]
                fn $row() {
                    let _env = ENV.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let handle =
                        call!($kind, siegel::Protected::<$ty>::$form(Dedicated, $($arg),*)).unwrap();
                    assert!(!handle.info().pooled);
                    let guard = handle.read().unwrap();
                    let $secret = &*guard;
                    $check
                }
            )*
        }

        mod with_options {
            use super::*;
            $(
                #[test]
                fn $row() {
                    let _env = ENV.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let place = Options::new().backend(Backend::Mprotect);
                    let handle =
                        call!($kind, siegel::Protected::<$ty>::$form(place, $($arg),*)).unwrap();
                    assert!(!handle.info().pooled);
                    assert_eq!(handle.info().mechanism, Mechanism::PageProtection);
                    let guard = handle.read().unwrap();
                    let $secret = &*guard;
                    $check
                }
            )*
        }

        mod in_a_pool {
            use super::*;
            $(
                #[test]
                fn $row() {
                    let _env = ENV.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let pool = Pool::new();
                    let handle =
                        call!($kind, siegel::Protected::<$ty>::$form(&pool, $($arg),*)).unwrap();
                    assert!(handle.info().pooled);
                    assert_eq!(pool.info().secrets, 1);
                    let guard = handle.read().unwrap();
                    let $secret = &*guard;
                    $check
                }
            )*
        }
    };
}

cells! {
    zeroed: safe Protected<[u8; 32]>::zeroed_in() => |s| assert_eq!(*s, [0; 32]);
    zeroed_slice: safe Protected<[u64]>::zeroed_slice_in(5) => |s| assert_eq!(s, [0; 5]);
    init_with: safe Protected<[u8; 16]>::init_with_in(|k: &mut [u8; 16]| k.fill(3))
        => |s| assert_eq!(*s, [3; 16]);
    init_with_fallible: safe Protected<u64>::init_with_in(
        |k: &mut u64| -> Result<(), siegel::Error> {
            *k = 42;
            Ok(())
        }
    ) => |s| assert_eq!(*s, 42);
    init_slice_with: safe Protected<[u16]>::init_slice_with_in(4, |k: &mut [u16]| k.fill(9))
        => |s| assert_eq!(s, [9; 4]);
    init_slice_with_fallible: safe Protected<[u8]>::init_slice_with_in(
        3,
        |k: &mut [u8]| -> Result<(), Box<dyn std::error::Error>> {
            k.copy_from_slice(std::str::from_utf8(b"abc")?.as_bytes());
            Ok(())
        }
    ) => |s| assert_eq!(s, b"abc");
    load_whole_file: safe Protected<[u8; 4]>::init_with_in(|k: &mut [u8; 4]| k.load_from(&[6u8; 4][..]))
        => |s| assert_eq!(*s, [6; 4]);
    random: safe Protected<[u8; 32]>::random_in() => |s| assert_ne!(*s, [0; 32]);
    random_slice: safe Protected<[u8]>::random_slice_in(48)
        => |s| assert!(s.len() == 48 && s.iter().any(|&b| b != 0));
    take_value: safe Protected<[u8; 8]>::take_in(&mut [7u8; 8]) => |s| assert_eq!(*s, [7; 8]);
    take_slice: safe Protected<[u32]>::take_in(&mut [5u32; 3][..]) => |s| assert_eq!(s, [5; 3]);
    take_string: safe Protected<str>::take_in(&mut String::from("hunter2"))
        => |s| assert_eq!(s, "hunter2");
    read_from_bytes: safe Protected<[u8]>::read_from_in(&b"key material"[..], 64)
        => |s| assert_eq!(s, b"key material");
    read_from_text: safe Protected<str>::read_from_in(&b"passphrase"[..], 64)
        => |s| assert_eq!(s, "passphrase");
    read_exact_from: safe Protected<[u8; 4]>::read_exact_from_in(&[1u8, 2, 3, 4, 5][..])
        => |s| assert_eq!(*s, [1, 2, 3, 4]);
    from_hex_slice: safe Protected<[u8]>::from_hex_in("00ff10") => |s| assert_eq!(s, [0x00, 0xff, 0x10]);
    from_hex_array: safe Protected<[u8; 2]>::from_hex_in("beef") => |s| assert_eq!(*s, [0xbe, 0xef]);
    from_base64_slice: safe Protected<[u8]>::from_base64_in(&STANDARD, "Zm9vYmFy")
        => |s| assert_eq!(s, b"foobar");
    from_base64_array: safe Protected<[u8; 3]>::from_base64_in(&STANDARD, "Zm9v")
        => |s| assert_eq!(s, b"foo");
    from_env_bytes: safe Protected<[u8]>::from_env_in(env("SIEGEL_CELL_ENV_BYTES", "abc"))
        => |s| assert_eq!(s, b"abc");
    from_env_text: safe Protected<str>::from_env_in(env("SIEGEL_CELL_ENV_TEXT", "xyz"))
        => |s| assert_eq!(s, "xyz");
    from_env_removed: unsafe Protected<str>::from_env_removed_in(env("SIEGEL_CELL_ENV_REMOVED", "gone"))
        => |s| {
            assert_eq!(s, "gone");
            assert!(std::env::var_os("SIEGEL_CELL_ENV_REMOVED").is_none());
        };
}
