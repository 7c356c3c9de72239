//! Wiping buffers the caller hands over (`String`s, `Vec`s, slices) once their
//! secret has been copied into protected memory.
//!
//! # Safety
//!
//! Every store here is a volatile write of a zero byte inside memory the caller
//! borrows exclusively, followed by a compiler fence, so the compiler can neither
//! drop the stores as dead nor move later code above them.

#![allow(unsafe_code)]

use core::ptr::NonNull;

use crate::pages;

/// Overwrites `len` bytes at `ptr` with zeros, with volatile stores
/// ([`pages::wipe`], the crate's one wipe).
///
/// # Safety
///
/// `ptr..ptr + len` must be valid for writes of `u8` (inside one allocation the
/// caller borrows exclusively); the bytes may be uninitialised.
unsafe fn wipe_raw(ptr: *mut u8, len: usize) {
    let Some(ptr) = NonNull::new(ptr) else { return };
    // SAFETY:
    // - valid for writes and borrowed exclusively (contract above); `u8` has no
    //   invalid bit pattern and no drop glue, so writing over an uninitialised
    //   or an initialised byte is fine.
    unsafe { pages::wipe(ptr, len) };
}

/// Overwrites `bytes` with zeros (volatile stores).
pub(crate) fn wipe_bytes(bytes: &mut [u8]) {
    // SAFETY:
    // - `bytes` is an exclusive borrow of `bytes.len()` initialised bytes.
    unsafe { wipe_raw(bytes.as_mut_ptr(), bytes.len()) };
}

/// Overwrites the whole buffer of `vec` with zeros — its spare capacity too,
/// which may hold an older copy of the secret — then empties it. The capacity
/// is kept, so nothing is reallocated (a reallocation would leave a copy behind
/// in freed memory).
pub(crate) fn wipe_vec(vec: &mut Vec<u8>) {
    // SAFETY:
    // - `as_mut_ptr()..+capacity()` is the vector's allocation, which `&mut`
    //   borrows exclusively; `wipe_raw` allows uninitialised bytes (the spare
    //   capacity). With capacity 0 the range is empty.
    unsafe { wipe_raw(vec.as_mut_ptr(), vec.capacity()) };
    vec.clear();
}

/// As [`wipe_vec`], for a `String`: every byte of its buffer becomes zero, then
/// it is emptied.
pub(crate) fn wipe_string(string: &mut String) {
    // SAFETY:
    // - `as_mut_vec` requires the bytes to be valid UTF-8 whenever the `String`
    //   is used again: `wipe_vec` leaves the vector empty (its length 0), and the
    //   empty string is valid UTF-8.
    let vec = unsafe { string.as_mut_vec() };
    wipe_vec(vec);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipes_spare_capacity_and_empties() {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"secret-bytes");
        v.truncate(3);
        let cap = v.capacity();
        wipe_vec(&mut v);
        assert!(v.is_empty());
        assert_eq!(v.capacity(), cap);
        // SAFETY:
        // - `cap` is the capacity, and `wipe_vec` wrote every byte of it, so
        //   all `cap` bytes are initialised (`u8`: any written byte is valid).
        unsafe { v.set_len(cap) };
        // The whole buffer, the old tail beyond the length included, is zero.
        assert!(v.iter().all(|&b| b == 0), "{v:?}");
    }

    #[test]
    fn wipes_strings() {
        let mut s = String::from("hunter2");
        wipe_string(&mut s);
        assert!(s.is_empty());
        let mut b = *b"abc";
        wipe_bytes(&mut b);
        assert_eq!(b, [0; 3]);
    }
}
