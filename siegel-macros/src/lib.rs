//! Implementation detail of the `siegel` crate: use [`siegel::protected`].
//!
//! The expansion runs in four phases, one file each: `attr` parses the
//! `#[protected(...)]` arguments, `ast` builds a typed model of the struct,
//! `valid` applies the rules, and `expand` quotes the output (and, after an
//! error, a fallback that keeps follow-on errors down). `valid` returns the
//! decisions `expand` applies. The expansion is pinned by snapshot tests
//! (`src/snapshot.rs`, cases in `tests/expand/`).
//!
//! [`siegel::protected`]: https://docs.rs/siegel-guard/latest/siegel/attr.protected.html

#![forbid(unsafe_code)]

#[macro_use]
mod error;

mod ast;
mod attr;
mod expand;
#[cfg(test)]
mod snapshot;
mod valid;

use proc_macro::TokenStream;

/// Makes a struct a secret that lives only in protected memory.
///
/// ```
/// use siegel::{protected, NoAccess, Protected};
///
/// #[protected]
/// pub struct Wallet {
///     /// The seed, 64 bytes.
///     seed: [u8; 64],
///     nonce: u64,
/// }
///
/// // Created in its own region and initialised in place: no stack copy.
/// let mut wallet: Protected<Wallet, NoAccess> = Wallet::protect_with(|w| {
///     w.seed_mut().fill(0x42);
/// })?;
/// assert_eq!(wallet.read()?.seed()[0], 0x42); // a read scope
/// *wallet.write()?.nonce_mut() += 1; // a write scope
/// assert_eq!(format!("{:?}", &*wallet.read()?), "Wallet([REDACTED])");
/// # Ok::<(), siegel::Error>(())
/// ```
///
/// # What it generates
///
/// For `#[protected] pub struct Wallet { seed: [u8; 64], nonce: u64 }`:
///
/// - **the struct**, with `#[repr(C)]` (plus any `align(N)` you wrote), your
///   attributes, doc comments and field visibilities, and a hidden zero-sized last
///   field of a type only siegel can build. No struct literal of `Wallet` can be
///   written anywhere — not even in its own module — so a `Wallet` exists only
///   zero-filled in a region, initialised in place. It is not `Clone`, `Copy` or
///   `Default`, so it cannot be moved or copied out of a guard as a whole either.
/// - **`siegel::Plain` for `Wallet`**, the promise that lets `Protected<Wallet>`
///   exist. The proc macro writes no `unsafe` itself: it writes one safe
///   `PlainFieldAt<I>` impl per field (`type Field = [u8; 64];`, which siegel's
///   trait requires to be `PlainField`: a field that is not plain data fails
///   right there), and calls a declarative macro of siegel's that writes the
///   `unsafe impl` together with the checks that justify it — an exhaustive
///   pattern over the struct's fields, each field's real type (inferred, not
///   read from tokens) matched against its `PlainFieldAt` impl, the hidden field,
///   and no `Drop` impl — with every path through `$crate`. Also `PlainField`
///   for `Wallet`, so that it can be a field of another `#[protected]` struct
///   (alone or in an array).
/// - **`impl Debug`** printing `Wallet([REDACTED])`, never the secret.
/// - **accessors**, per field `seed`:
///   - `const fn seed(&self) -> &[u8; 64]`: a getter, callable under any read
///     scope (`ReadGuard`, `WriteGuard`, a `ReadOnly` or `ReadWrite` handle). The
///     field's doc comment becomes the getter's;
///   - `const fn seed_mut(&mut self) -> &mut [u8; 64]`: only reachable where
///     `&mut Wallet` is, that is under a `WriteGuard` or a `ReadWrite` handle.
///     Under `ReadOnly` it does not compile. Not generated for a frozen field.
///
///   There are no by-value setters: `*w.nonce_mut() = n` is the setter, and a
///   value passed by argument would sit on the stack.
/// - **constructors**:
///   - `fn protect_zeroed() -> Result<Protected<Wallet>, siegel::Error>`: a new
///     region, all zero, sealed;
///   - `fn protect_with(init: impl FnOnce(&mut Wallet)) -> Result<Protected<Wallet>,
///     siegel::Error>`: a new region initialised in place by `init`, then sealed.
///
///   They are `Protected::<Wallet>::zeroed_in(Dedicated)` and
///   `Protected::<Wallet>::init_with_in(Dedicated, init)`; call those with
///   another place to choose where it goes (`siegel::Options` for the backend
///   or the `mlock` policy, or `&pool`), or with an initialiser that can fail.
///
/// Accessors and constructors take **the struct's visibility**, whatever the
/// fields' visibility: keep the fields private (the default) and use the
/// accessors, or make a field `pub` to use it directly (`guard.nonce`), which
/// respects the scopes just the same — assigning needs a write scope.
///
/// # Tuple structs
///
/// A tuple struct gets the same items and the same checks. The accessors of a
/// newtype's single field are `get()` and `get_mut()`; those of a longer tuple
/// struct are named after the field's index: `_0()` and `_0_mut()`, `_1()` and
/// `_1_mut()`, and so on (clippy's pedantic `used_underscore_items` lint flags
/// calls to names with a leading underscore: make a field `pub` and write
/// `guard.0`, or give the fields names, if your crate denies it).
///
/// ```
/// use siegel::protected;
///
/// #[protected]
/// pub struct Key([u8; 32]);
///
/// #[protected]
/// pub struct Session([u8; 32], pub u64);
///
/// let mut key = Key::protect_with(|k| k.get_mut().fill(7))?;
/// key.write()?.get_mut()[0] = 1;
/// assert_eq!(key.read()?.get()[..2], [1, 7]);
///
/// let mut session = Session::protect_zeroed()?;
/// session.write()?._0_mut().copy_from_slice(&[2; 32]);
/// session.write()?.1 += 1; // a `pub` field, in a write scope
/// assert_eq!((session.read()?._0()[0], *session.read()?._1()), (2, 1));
/// # Ok::<(), siegel::Error>(())
/// ```
///
/// As with named fields, no value of the struct can be written (`Key([0; 32])`
/// misses the hidden last field), and `#[protected(frozen)]` works on a tuple
/// field.
///
/// # Compile-time checks
///
/// - every field type is plain data kept inline: integers, floats, `bool`,
///   arrays of them, or another `#[protected]` struct (siegel's `PlainField`,
///   reported on the field; it sees through type aliases, associated types and
///   macros). `Vec`, `String`, `Box`, `Rc`, `Arc`, references, raw and function
///   pointers, slices, trait objects and `Cell`/atomics are rejected by name
///   first, with a message saying what to use instead;
/// - the struct has no `Drop` impl (a region is wiped, never dropped);
/// - its alignment is at most 4096 bytes (the smallest page size) and not below
///   any field's (a packed layout would make the accessors' references
///   unaligned);
/// - no `repr` but `C` and `align(N)`; no `#[derive]` of `Clone`, `Copy`,
///   `Default`, `Deserialize` (by value: use `#[protected(deserialize)]`),
///   `Debug` (we generate a redacted one), `PartialEq`, `Eq`, `PartialOrd`,
///   `Ord` or `Hash` (not constant-time); other derives pass;
/// - a struct with named fields, or a tuple struct, with at least one field;
///   const generic parameters are accepted (`struct Buffer<const N: usize> {
///   bytes: [u8; N] }`: the fields are checked for every `N` where the struct is
///   defined, the layout per instance when a constructor is used), lifetime and
///   type parameters are not (a field of type `T` cannot be checked where the
///   struct is defined);
/// - no `#[cfg]` on a field, written directly or through `#[cfg_attr]` (put it
///   on the struct).
///
/// Every misuse is a spanned error naming the fix. After an error the macro still
/// emits the struct and what it can of its items, so the rest of the crate does
/// not drown in follow-on errors.
///
/// # Arguments
///
/// - `#[protected(deserialize)]` (siegel's `serde` feature): the struct is
///   deserialized in place, and `Protected<Struct>` implements serde's
///   `Deserialize` — one call fills a new region, field by field, with no copy
///   of the struct outside it:
///
///   ```
///   use siegel::{protected, CtEq, Protected, Text};
///
///   #[protected(deserialize)]
///   struct Config {
///       password: Text<64>,
///       hmac_key: [u8; 32],
///       port: u16,
///   }
///
///   let json = r#"{"password": "hunter2", "hmac_key": [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
///                  7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7], "port": 8443}"#;
///   let config: Protected<Config> = serde_json::from_str(json)?;
///   assert!(config.read()?.password().ct_eq("hunter2"));
///   # Ok::<(), Box<dyn std::error::Error>>(())
///   ```
///
///   It generates siegel's `DeserializeInPlace` for the struct (and a hidden
///   helper impl): each field must be `DeserializeInPlace` itself — integers,
///   floats, `bool`, `Text<N>`, `Bytes<N>`, arrays of them, or another
///   `#[protected(deserialize)]` struct — and the error says so on the field.
///   Named fields come from a map (or a sequence in field order), a tuple
///   struct from a sequence, a newtype from its field's value. Unknown fields
///   are skipped; missing and repeated ones are errors. Not with a
///   `#[protected(frozen)]` field (the impl can run in any write scope).
///   `#[derive(Deserialize)]` is rejected, below the attribute by the macro,
///   above it by a check the expansion carries: both would build the struct by
///   value, and both errors name this argument.
/// - `#[protected(crate = "path::to::siegel")]`: where to find siegel, for crates
///   that re-export it or rename the dependency (`renamed = { package = "siegel",
///   ... }` and `crate = "renamed"`). The default is `::siegel`. The path only
///   says where siegel's items are: what makes the generated `Plain` impl sound
///   is reached through siegel's own `$crate`, so a path that leads elsewhere (a
///   local module with permissive checks, say) makes the struct fail to compile,
///   never unsound.
///
/// # Field attribute: `#[protected(frozen)]`
///
/// A frozen field is readable but never writable after initialisation: it gets
/// its getter and no `_mut` accessor, and it must be private (a `pub` field could
/// be assigned through any write scope). Its value is therefore set where the
/// field itself is visible — the module that defines the struct — typically in
/// a constructor of yours:
///
/// ```
/// mod credentials {
///     #[siegel::protected]
///     pub struct ApiKey {
///         #[protected(frozen)]
///         id: [u8; 8],
///         secret: [u8; 32],
///     }
///
///     impl ApiKey {
///         pub fn load(id: [u8; 8]) -> Result<siegel::Protected<Self>, siegel::Error> {
///             Self::protect_with(|key| {
///                 key.id = id; // the field is visible here, and only here
///                 key.secret_mut().fill(7);
///             })
///         }
///     }
/// }
///
/// let mut key = credentials::ApiKey::load(*b"key-0001")?;
/// key.write()?.secret_mut()[0] = 1; // fine
/// assert_eq!(key.read()?.id(), b"key-0001"); // the getter works in any scope
/// # Ok::<(), siegel::Error>(())
/// ```
///
/// while outside that module no accessor writes it. "Frozen" is about
/// accessors, not about the whole value: a write guard derefs to `&mut Struct`,
/// so `core::mem::swap(&mut *a.write()?, &mut *b.write()?)` exchanges two
/// secrets of the same type whole, frozen fields included (each keeps a value
/// that was initialised in protected memory; siegel pins this behaviour in a
/// test rather than forbid `&mut` to the whole struct).
///
/// Outside the module, a frozen field can only be read:
///
/// ```compile_fail,E0599
/// # mod credentials {
/// #     #[siegel::protected]
/// #     pub struct ApiKey {
/// #         #[protected(frozen)]
/// #         id: [u8; 8],
/// #     }
/// # }
/// let mut key = credentials::ApiKey::protect_zeroed()?;
/// key.write()?.id_mut()[0] = 1; // error: no method named `id_mut`
/// # Ok::<(), siegel::Error>(())
/// ```
///
/// # What does not compile
///
/// Writing under a read scope:
///
/// ```compile_fail,E0596
/// #[siegel::protected]
/// struct Wallet {
///     nonce: u64,
/// }
///
/// let wallet = Wallet::protect_zeroed()?;
/// *wallet.read()?.nonce_mut() += 1; // error: `ReadGuard` is not `DerefMut`
/// # Ok::<(), siegel::Error>(())
/// ```
///
/// A struct literal, even in the defining module:
///
/// ```compile_fail,E0063
/// #[siegel::protected]
/// struct Wallet {
///     nonce: u64,
/// }
///
/// let wallet = Wallet { nonce: 0 }; // error: missing field `__siegel_in_place`
/// ```
///
/// A heap-backed field:
///
/// ```compile_fail
/// #[siegel::protected]
/// struct Password {
///     text: String, // error: `String` cannot be a field of a #[protected] struct
/// }
/// ```
///
/// The `ui-tests/` directory of the repository holds one compile-fail case per
/// rule, with the exact messages.
#[proc_macro_attribute]
pub fn protected(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::protected(args.into(), input.into()).into()
}
