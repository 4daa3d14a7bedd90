//! The exports of the control lane: `bpfx_abi_version`, `bpfx_call` (one
//! JSON request in, one JSON reply out, with its status codes) and
//! `bpfx_fetch`, which collects a reply parked because it did not fit the
//! caller's buffer.

use super::panics::{panic_error, quiet_panics};
use super::{ABI_VERSION, dispatch};
use crate::error::Error;
use crate::fs::names;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

const OK: i32 = 0;
const FAILED: i32 = 1;
const TOO_BIG: i32 = 2;
const BAD_REQUEST: i32 = -1;

/// Replies that did not fit the caller's buffer, by token.
type Parked = HashMap<u32, (i32, Vec<u8>)>;
static PARKED: Mutex<Option<Parked>> = Mutex::new(None);
static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);

#[derive(Deserialize)]
struct Req {
    op: String,
    #[serde(flatten)]
    params: Value,
}

/// Decodes, runs and encodes one request: (status, reply bytes).
fn call(req: &[u8]) -> (i32, Vec<u8>) {
    quiet_panics();
    let req: Req = match serde_json::from_slice(req) {
        Ok(r) => r,
        Err(e) => {
            let e = Error::invalid("call", format!("The request is not valid JSON: {e}"));
            return (BAD_REQUEST, serde_json::to_vec(&e).unwrap_or_default());
        }
    };
    let result = catch_unwind(AssertUnwindSafe(|| dispatch(&req.op, req.params)))
        .unwrap_or_else(|panic| Err(panic_error(&panic)));
    // Names that are not UTF-8 leave as `\udcXX` escapes (`fs::names`).
    match result.and_then(|v| serde_json::to_vec(&v).map_err(|e| Error::internal(e.to_string()))) {
        Ok(bytes) => (OK, names::surrogates(bytes)),
        Err(e) => (
            FAILED,
            names::surrogates(serde_json::to_vec(&e).unwrap_or_default()),
        ),
    }
}

/// Copies `bytes` out, or parks them under a token when they do not fit.
///
/// # Safety
/// `out` must be valid for `out_cap` bytes and `meta` for two `u64`.
unsafe fn deliver(
    status: i32,
    bytes: Vec<u8>,
    out: *mut u8,
    out_cap: usize,
    meta: *mut u64,
) -> i32 {
    // SAFETY: the caller guarantees `meta` points at two writable u64.
    unsafe {
        meta.write_unaligned(bytes.len() as u64);
        meta.add(1).write_unaligned(0);
    }
    if bytes.len() <= out_cap {
        // SAFETY: `out` is valid for `out_cap` >= `bytes.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
        return status;
    }
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    PARKED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(token, (status, bytes));
    // SAFETY: as above.
    unsafe { meta.add(1).write_unaligned(u64::from(token)) };
    TOO_BIG
}

/// The ABI version of this library. Called first by every binding (it checks
/// the version before anything else), so it also installs the quiet panic
/// hook.
#[unsafe(no_mangle)]
pub extern "C" fn bpfx_abi_version() -> u32 {
    quiet_panics();
    ABI_VERSION
}

/// Runs one JSON control request. See docs/ABI.md.
///
/// # Safety
/// `req` must be valid for `req_len` bytes, `out` for `out_cap` bytes, and
/// `meta` for two `u64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_call(
    req: *const u8,
    req_len: usize,
    out: *mut u8,
    out_cap: usize,
    meta: *mut u64,
) -> i32 {
    if req.is_null() || meta.is_null() || (out.is_null() && out_cap > 0) {
        return BAD_REQUEST;
    }
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees `req` is valid for `req_len` bytes.
        let req = unsafe { std::slice::from_raw_parts(req, req_len) };
        let (status, bytes) = call(req);
        // SAFETY: forwarded from this function's contract.
        unsafe { deliver(status, bytes, out, out_cap, meta) }
    }))
    .unwrap_or(BAD_REQUEST)
}

/// Collects a parked reply. Returns its status, or -1 for an unknown token
/// or a buffer too small (the reply stays parked then).
///
/// # Safety
/// `out` must be valid for `out_cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_fetch(token: u32, out: *mut u8, out_cap: usize) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        let mut guard = PARKED.lock().unwrap_or_else(|p| p.into_inner());
        let Some(parked) = guard.as_mut() else {
            return BAD_REQUEST;
        };
        match parked.get(&token) {
            Some((_, bytes)) if bytes.len() <= out_cap && !out.is_null() => {
                let (status, bytes) = parked.remove(&token).expect("present");
                // SAFETY: `out` is valid for `out_cap` >= `bytes.len()` bytes.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
                status
            }
            _ => BAD_REQUEST,
        }
    }))
    .unwrap_or(BAD_REQUEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(req: &str, cap: usize) -> (i32, Vec<u8>, [u64; 2]) {
        let mut out = vec![0u8; cap];
        let mut meta = [0u64; 2];
        // SAFETY: buffers sized as declared.
        let st = unsafe {
            bpfx_call(
                req.as_ptr(),
                req.len(),
                out.as_mut_ptr(),
                cap,
                meta.as_mut_ptr(),
            )
        };
        out.truncate((meta[0] as usize).min(cap));
        (st, out, meta)
    }

    #[test]
    fn version_round_trips() {
        let (st, out, _) = run(r#"{"op":"version"}"#, 4096);
        assert_eq!(st, OK);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["abi"], 1);
    }

    #[test]
    fn unknown_op_and_bad_json_are_errors() {
        let (st, out, _) = run(r#"{"op":"frobnicate"}"#, 4096);
        assert_eq!(st, FAILED);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["kind"], "invalid");
        assert_eq!(v["message"], "Unknown operation \"frobnicate\"");
        let (st, _, _) = run("{", 4096);
        assert_eq!(st, BAD_REQUEST);
    }

    #[test]
    fn a_reply_too_big_is_parked_and_fetched_once() {
        let (st, _, meta) = run(r#"{"op":"version"}"#, 4);
        assert_eq!(st, TOO_BIG);
        let len = meta[0] as usize;
        let token = meta[1] as u32;
        assert!(len > 4 && token != 0);
        let mut small = vec![0u8; 4];
        // SAFETY: buffer sized as declared.
        assert_eq!(
            unsafe { bpfx_fetch(token, small.as_mut_ptr(), small.len()) },
            BAD_REQUEST
        );
        let mut buf = vec![0u8; len];
        // SAFETY: buffer sized as declared.
        assert_eq!(unsafe { bpfx_fetch(token, buf.as_mut_ptr(), len) }, OK);
        assert!(serde_json::from_slice::<Value>(&buf).is_ok());
        // SAFETY: buffer sized as declared.
        assert_eq!(
            unsafe { bpfx_fetch(token, buf.as_mut_ptr(), len) },
            BAD_REQUEST,
            "fetched once"
        );
    }

    #[test]
    fn errors_carry_kind_op_errno_and_path() {
        let _g = crate::sys::fake::install(|c| match c {
            crate::sys::Call::Bpf {
                cmd: crate::sys::BpfCmd::ObjGet,
                ..
            } => crate::sys::fake::errno(libc::ENOENT),
            crate::sys::Call::Statfs { .. } => Some(Ok(crate::fs::mounts::BPF_FS_MAGIC)),
            _ => None,
        });
        let (st, out, _) = run(r#"{"op":"show","path":"/sys/fs/bpf/gone"}"#, 4096);
        assert_eq!(st, FAILED);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["kind"], "not-found");
        assert_eq!(v["op"], "BPF_OBJ_GET");
        assert_eq!(v["errno"], libc::ENOENT);
        assert_eq!(v["path"], "/sys/fs/bpf/gone");
    }
}
