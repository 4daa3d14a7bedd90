//! Event sources, the handles `bpfx_next` reads and `bpfx_wake` stops: raw
//! fanotify events (`events_open`), the watcher (`watch_open`) and ring
//! buffers (`ringbuf_open`).

use super::buffers::write_error;
use super::panics::panic_error;
use super::{PathParam, params};
use crate::error::{Error, Result};
use crate::kernel::handles::{self, Handle};
use crate::kernel::info::ObjKind;
use crate::kernel::pins;
use serde::Deserialize;
use serde_json::{Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Mutex;

/// `events_open`: paths to watch in (with `written`, files closed after a
/// write in them are reported too), a source handle of fanotify events out.
pub fn events_open(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        paths: Vec<PathBuf>,
        #[serde(default)]
        filesystem: bool,
        #[serde(default)]
        written: bool,
    }
    let P {
        paths,
        filesystem,
        written,
    } = params(op, p)?;
    if filesystem && written {
        return Err(Error::invalid(
            op,
            "Give \"written\" with directory marks only, not \"filesystem\"",
        ));
    }
    let events = crate::kernel::events::open(&paths, filesystem, written)?;
    source_handle(events, None)
}

/// `watch_open`: a state directory in (with `create`, made when missing,
/// as `expose` and `apply` make it), a source handle of the watcher's
/// actions out.
pub fn watch_open(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        state: PathBuf,
        #[serde(default)]
        create: bool,
    }
    let P { state, create } = params(op, p)?;
    if create && !state.as_os_str().is_empty() {
        crate::state::manifest::State::open(&state, true)?;
    }
    let w = crate::watch::open(&state)?;
    source_handle(w, Some(state))
}

/// `ringbuf_open`: a pinned ring buffer in, a source handle of its records
/// out.
pub fn ringbuf_open(op: &str, p: Value) -> Result<Value> {
    let PathParam { path } = params(op, p)?;
    let (fd, _) = pins::open(&path, Some(ObjKind::Map))?;
    let rb = crate::kernel::maps::RingBuf::open(fd).map_err(|e| e.with_path(&path))?;
    source_handle(rb, Some(path))
}

/// Stores an event source as a handle, with a new eventfd to wake it.
fn source_handle(source: impl handles::Source + 'static, path: Option<PathBuf>) -> Result<Value> {
    let wake = crate::sys::fs::eventfd().map_err(|e| Error::sys("Cannot make an eventfd", e))?;
    let source: std::sync::Arc<Mutex<dyn handles::Source>> =
        std::sync::Arc::new(Mutex::new(source));
    let handle = handles::insert(Handle {
        held: handles::Held::Source {
            source,
            wake: std::sync::Arc::new(wake),
        },
        path,
    });
    Ok(json!({ "handle": handle }))
}

/// Waits up to `timeout_ms` for events on source handle `handle` and writes
/// them as JSON lines into `buf`. Returns the bytes written (0: nothing yet,
/// call again), -2 once `bpfx_wake` stopped it, or -1 with a JSON error and
/// a NUL in `err`. Blocks: bind it `nonblocking`.
///
/// # Safety
/// `buf` must be valid for `cap` bytes and `err` for `err_cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_next(
    handle: u32,
    timeout_ms: i32,
    buf: *mut u8,
    cap: usize,
    err: *mut u8,
    err_cap: usize,
) -> i64 {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let (source, wake) = handles::source(handle)?;
        // Once woken, stay stopped, even with lines still queued.
        let woken = crate::sys::fs::poll_in(&[std::os::fd::AsFd::as_fd(&*wake)], 0)
            .map_err(|e| Error::sys("Cannot check the wake fd", e))?;
        if woken[0] {
            return Ok(-2);
        }
        let mut s = source.lock().unwrap_or_else(|p| p.into_inner());
        match s.next(std::os::fd::AsFd::as_fd(&*wake), timeout_ms, cap)? {
            None => Ok(-2),
            Some(bytes) if bytes.len() > cap => Err(Error::invalid(
                "next",
                format!("An event needs {} bytes; the buffer has {cap}", bytes.len()),
            )),
            Some(bytes) => {
                // SAFETY: `buf` is valid for `cap` >= `bytes.len()` bytes.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
                Ok(bytes.len() as i64)
            }
        }
    }));
    match r {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => write_error(e, err, err_cap),
        Err(p) => write_error(panic_error(&p), err, err_cap),
    }
}

/// Wakes a `bpfx_next` blocked on `handle` (and every later one), so that
/// it returns -2. Returns 0, or -1 for a handle that is not a source.
#[unsafe(no_mangle)]
pub extern "C" fn bpfx_wake(handle: u32) -> i32 {
    catch_unwind(|| match handles::source(handle) {
        Ok((_, wake)) => {
            crate::sys::fs::eventfd_signal(std::os::fd::AsFd::as_fd(&*wake)).map_or(-1, |()| 0)
        }
        Err(_) => -1,
    })
    .unwrap_or(-1)
}
