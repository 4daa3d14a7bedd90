//! Views: `view_create` (an iterator link pinned), `view_open` (a reader
//! handle), and `bpfx_read`, the data lane that reads one.

use super::buffers::write_error;
use super::panics::panic_error;
use super::{PathParam, params, to_json};
use crate::attach::views;
use crate::error::{Error, Result};
use crate::kernel::handles::{self, Handle};
use serde::Deserialize;
use serde_json::{Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// `view_create`: a view program and its pin in, the view out.
pub fn view_create(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        prog: String,
        pin: PathBuf,
        #[serde(default)]
        params: views::ViewParams,
        pin_by_name_root: Option<PathBuf>,
    }
    let P {
        prog,
        pin,
        params: vp,
        pin_by_name_root,
    } = params(op, p)?;
    to_json(&views::create(
        &prog,
        &pin,
        &vp,
        pin_by_name_root.as_deref(),
    )?)
}

/// `view_open`: a pinned view in, a reader handle out.
pub fn view_open(op: &str, p: Value) -> Result<Value> {
    let PathParam { path } = params(op, p)?;
    let file = views::open_reader(&path)?;
    let handle = handles::insert(Handle {
        held: handles::Held::Reader(std::sync::Arc::new(file)),
        path: Some(path),
    });
    Ok(json!({ "handle": handle }))
}

/// `views_read`: view pins in (and `maxBytes` per view, 16 MiB by default);
/// each one's whole text, `{text}`, or why it could not be read, `{error}`.
/// One call for many views, for a scrape: run it `nonblocking`.
pub fn views_read(op: &str, p: Value) -> Result<Value> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        paths: Vec<std::path::PathBuf>,
        max_bytes: Option<usize>,
    }
    let P { paths, max_bytes } = params(op, p)?;
    let max = max_bytes.unwrap_or(16 << 20);
    let out: Vec<Value> = paths
        .iter()
        .map(|path| match views::read_text(path, max) {
            Ok(text) => json!({ "text": text }),
            Err(e) => json!({ "error": e.message }),
        })
        .collect();
    Ok(Value::Array(out))
}

/// Reads up to `cap` bytes from reader handle `handle` into `buf`: the
/// data lane of views. Returns the count (0 at the end), or -1 with a JSON
/// error and a NUL written into `err` (cut to `err_cap`). The count is
/// short only at the end, or when a read failed after bytes were read: the
/// call returns those bytes and writes the error into `err` as well, and
/// the next call returns -1 with it. May block: bind it `nonblocking`.
///
/// # Safety
/// `buf` must be valid for `cap` bytes and `err` for `err_cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_read(
    handle: u32,
    buf: *mut u8,
    cap: usize,
    err: *mut u8,
    err_cap: usize,
) -> i64 {
    let fail = |e: Error| write_error(e, err, err_cap);
    if buf.is_null() && cap > 0 {
        return fail(Error::invalid("read", "The read buffer is null"));
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        let reader = handles::reader(handle)?;
        // SAFETY: `buf` is valid for `cap` bytes and only this call writes it.
        let slice = unsafe { std::slice::from_raw_parts_mut(buf, cap) };
        let (n, cut_short) = reader.read(slice)?;
        if let Some(e) = cut_short {
            // The count is short, but not the end: say so in `err` too.
            write_error(e, err, err_cap);
        }
        Ok(n as i64)
    }));
    match r {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => fail(e),
        Err(p) => fail(panic_error(&p)),
    }
}
