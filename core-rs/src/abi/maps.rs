//! Maps: the `map_btf` request, and the data lane's exports, each a map
//! call on a map handle with the caller's key and value buffers checked
//! against the map (lookup, update, delete, lookup-and-delete, next key,
//! batch).

use super::buffers::{bytes, bytes_mut};
use super::params;
use crate::error::{Error, Kind, Result};
use crate::kernel::handles;
use serde::Deserialize;
use serde_json::Value;
use std::os::fd::BorrowedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// `map_btf`: a map handle in, the BTF types of its key and value out.
pub fn map_btf(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        handle: u32,
    }
    let P { handle } = params(op, p)?;
    let meta = handles::with_map(handle, |_, m| *m).ok_or_else(|| {
        Error::new(
            Kind::WrongKind,
            "handle",
            format!("Handle {handle} is not an open map"),
        )
    })?;
    crate::kernel::maps::btf_types(&meta)
}

/// A negative errno for the data lane.
fn neg(e: crate::sys::SysError) -> i32 {
    -e.errno().max(1)
}

/// Runs a map call on handle `h` when the key and value lengths fit the
/// map (a key of length 0 is the NULL key of queues, stacks and first-key
/// calls). Returns 0, or a negative errno: -EBADF for a handle that is not
/// an open map, -EINVAL for a wrong length.
fn map_call(
    h: u32,
    key_len: usize,
    value_len: Option<usize>,
    f: impl FnOnce(BorrowedFd<'_>) -> i32,
) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        handles::with_map(h, |fd, m| {
            let key_ok = key_len == 0 || key_len == m.key_size as usize;
            let value_ok = value_len.is_none_or(|v| v == m.value_buf_size as usize);
            if key_ok && value_ok {
                f(fd)
            } else {
                -libc::EINVAL
            }
        })
        .unwrap_or(-libc::EBADF)
    }))
    .unwrap_or(-libc::EIO)
}

type ReadFn = fn(BorrowedFd<'_>, &[u8], &mut [u8], u64) -> crate::sys::SysResult<()>;

/// A map call that reads a value for a key: lookup, or lookup-and-delete.
///
/// # Safety
/// The buffers must be valid for their lengths.
unsafe fn read_call(
    h: u32,
    key: *const u8,
    key_len: usize,
    value: *mut u8,
    value_len: usize,
    flags: u64,
    call: ReadFn,
) -> i32 {
    map_call(h, key_len, Some(value_len), |fd| {
        // SAFETY: lengths checked against the map by `map_call`.
        let (k, v) = unsafe { (bytes(key, key_len), bytes_mut(value, value_len)) };
        call(fd, k, v, flags).map_or_else(neg, |()| 0)
    })
}

/// `BPF_MAP_LOOKUP_ELEM` into `value`. 0, or a negative errno (-ENOENT:
/// no such key).
///
/// # Safety
/// The buffers must be valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_map_lookup(
    h: u32,
    key: *const u8,
    key_len: usize,
    value: *mut u8,
    value_len: usize,
    flags: u64,
) -> i32 {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        read_call(
            h,
            key,
            key_len,
            value,
            value_len,
            flags,
            crate::sys::maps::lookup,
        )
    }
}

/// `BPF_MAP_UPDATE_ELEM` with `flags` (0 any, 1 no-exist, 2 exist).
///
/// # Safety
/// The buffers must be valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_map_update(
    h: u32,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u64,
) -> i32 {
    map_call(h, key_len, Some(value_len), |fd| {
        // SAFETY: lengths checked against the map by `map_call`.
        let (k, v) = unsafe { (bytes(key, key_len), bytes(value, value_len)) };
        crate::sys::maps::update(fd, k, v, flags).map_or_else(neg, |()| 0)
    })
}

/// `BPF_MAP_DELETE_ELEM`.
///
/// # Safety
/// `key` must be valid for `key_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_map_delete(h: u32, key: *const u8, key_len: usize) -> i32 {
    map_call(h, key_len, None, |fd| {
        // SAFETY: length checked against the map by `map_call`.
        let k = unsafe { bytes(key, key_len) };
        crate::sys::maps::delete(fd, k).map_or_else(neg, |()| 0)
    })
}

/// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (a NULL key pops a queue or stack).
///
/// # Safety
/// The buffers must be valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_map_lookup_and_delete(
    h: u32,
    key: *const u8,
    key_len: usize,
    value: *mut u8,
    value_len: usize,
    flags: u64,
) -> i32 {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        read_call(
            h,
            key,
            key_len,
            value,
            value_len,
            flags,
            crate::sys::maps::lookup_and_delete,
        )
    }
}

/// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (length 0: the first) into
/// `next` (key-sized). -ENOENT at the end.
///
/// # Safety
/// The buffers must be valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_map_next_key(
    h: u32,
    key: *const u8,
    key_len: usize,
    next: *mut u8,
    next_len: usize,
) -> i32 {
    if !handles::with_map(h, |_, m| next_len == m.key_size as usize).unwrap_or(true) {
        return -libc::EINVAL; // the kernel writes key_size bytes into `next`
    }
    map_call(h, key_len, None, |fd| {
        // SAFETY: `next` holds key_size bytes (checked above).
        let (k, n) = unsafe { (bytes(key, key_len), bytes_mut(next, next_len)) };
        crate::sys::maps::next_key(fd, k, n).map_or_else(neg, |()| 0)
    })
}

/// One batch call (`op`: 0 lookup, 1 lookup-and-delete, 2 update, 3
/// delete). `cursor` holds the in and out batch tokens, `cursor_len / 2`
/// bytes each (an all-zero-length `in` half starts from the beginning when
/// `count_io[1]` is 0); `count_io[0]` is the entries offered and returns
/// those done; `count_io[1]` is 1 when `in` is set. Returns 0, or a
/// negative errno (-ENOENT with a count: the last batch).
///
/// # Safety
/// The buffers must be valid for their lengths; `count_io` for two u32.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_map_batch(
    h: u32,
    op: u32,
    cursor: *mut u8,
    cursor_len: usize,
    keys: *mut u8,
    keys_len: usize,
    values: *mut u8,
    values_len: usize,
    count_io: *mut u32,
    flags: u64,
) -> i32 {
    use crate::sys::maps::Batch;
    let op = match op {
        0 => Batch::Lookup,
        1 => Batch::LookupAndDelete,
        2 => Batch::Update,
        3 => Batch::Delete,
        _ => return -libc::EINVAL,
    };
    if count_io.is_null() {
        return -libc::EINVAL;
    }
    catch_unwind(AssertUnwindSafe(|| {
        handles::with_map(h, |fd, m| {
            // SAFETY: the caller guarantees two u32 at `count_io`.
            let (count, has_in) = unsafe { (*count_io, *count_io.add(1)) };
            let half = cursor_len / 2;
            let n = count as usize;
            let values_needed = if op == Batch::Delete {
                0
            } else {
                n * m.value_buf_size as usize
            };
            if half < m.key_size.max(4) as usize
                || keys_len < n * m.key_size as usize
                || values_len < values_needed
            {
                return -libc::EINVAL;
            }
            // SAFETY: lengths checked just above.
            let (cur, k, v) = unsafe {
                (
                    bytes_mut(cursor, cursor_len),
                    bytes_mut(keys, keys_len),
                    bytes_mut(values, values_len),
                )
            };
            let (inb, outb) = cur.split_at_mut(half);
            let inb: &[u8] = if has_in == 1 { inb } else { &[] };
            let mut done = count;
            let r = crate::sys::maps::batch(op, fd, inb, outb, k, v, &mut done, flags);
            // SAFETY: as above.
            unsafe { *count_io = done };
            r.map_or_else(neg, |()| 0)
        })
        .unwrap_or(-libc::EBADF)
    }))
    .unwrap_or(-libc::EIO)
}
