//! Handles of BPF objects, the ids TypeScript holds: `open` (a pin as a
//! handle), `handle_info`, and the exports `bpfx_close` (the paired close
//! of every handle) and `bpfx_open_handles` (how many are open).

use super::{params, to_json};
use crate::error::{Error, Result};
use crate::kernel::handles::{self, Handle};
use crate::kernel::info::{self, ObjKind};
use crate::kernel::pins;
use serde::Deserialize;
use serde_json::{Value, json};
use std::panic::catch_unwind;
use std::path::PathBuf;

/// `open`: a pin (and the kind it must be) in, a handle and its object's
/// information out.
pub fn open(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        path: PathBuf,
        kind: Option<String>,
    }
    let P { path, kind } = params(op, p)?;
    let want = match kind.as_deref() {
        None => None,
        Some(k) => Some(ObjKind::parse(k).ok_or_else(|| {
            Error::invalid(
                op,
                format!("Unknown object kind \"{k}\": use prog, map or link"),
            )
        })?),
    };
    let (fd, kind) = pins::open(&path, want)?;
    let mut i = info::info_of_kind(std::os::fd::AsFd::as_fd(&fd), kind)?;
    i.path = Some(path.display().to_string());
    let map = match kind {
        ObjKind::Map => Some(crate::kernel::maps::meta(std::os::fd::AsFd::as_fd(&fd))?),
        _ => None,
    };
    let handle = handles::insert(Handle {
        held: handles::Held::Obj {
            fd: std::sync::Arc::new(fd),
            kind,
            map,
        },
        path: Some(path),
    });
    let mut v = to_json(&i)?;
    v["handle"] = json!(handle);
    if let Some(m) = map {
        v["map"] = to_json(&m)?;
    }
    Ok(v)
}

/// `handle_info`: an object handle in, its object's information out.
pub fn handle_info(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        handle: u32,
    }
    let P { handle } = params(op, p)?;
    handles::with(handle, |fd, kind, path| {
        let mut i = info::info_of_kind(fd, kind)?;
        i.path = path.map(|p| p.display().to_string());
        to_json(&i)
    })
}

/// Closes a handle: 0 when closed, -1 when there was no such handle.
#[unsafe(no_mangle)]
pub extern "C" fn bpfx_close(handle: u32) -> i32 {
    catch_unwind(|| if handles::close(handle) { 0 } else { -1 }).unwrap_or(-1)
}

/// How many handles are open.
#[unsafe(no_mangle)]
pub extern "C" fn bpfx_open_handles() -> u32 {
    catch_unwind(|| handles::count() as u32).unwrap_or(u32::MAX)
}
