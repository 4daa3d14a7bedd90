//! The caller's `(ptr, len)` buffers: slices over them for the data lane,
//! and the JSON error text written into one (never a thread-local).

use crate::error::Error;

/// Writes `e` as JSON and a NUL into `err` (cut to `err_cap`); returns -1.
pub(super) fn write_error(e: Error, err: *mut u8, err_cap: usize) -> i64 {
    let mut bytes = serde_json::to_vec(&e).unwrap_or_default();
    bytes.truncate(err_cap.saturating_sub(1));
    bytes.push(0);
    if !err.is_null() && err_cap > 0 {
        // SAFETY: the caller guarantees `err` is valid for `err_cap` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), err, bytes.len()) };
    }
    -1
}

/// Builds a slice from a caller's (pointer, length); empty for length 0.
///
/// # Safety
/// `p` must be valid for `len` bytes.
pub(super) unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

/// As [`bytes`], writable.
///
/// # Safety
/// `p` must be valid for `len` bytes and not aliased.
pub(super) unsafe fn bytes_mut<'a>(p: *mut u8, len: usize) -> &'a mut [u8] {
    if p.is_null() || len == 0 {
        &mut []
    } else {
        unsafe { std::slice::from_raw_parts_mut(p, len) }
    }
}
