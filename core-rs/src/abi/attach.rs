//! The control requests of rules over a cgroup subtree: `attach` (views or
//! a cgroup program's links), `detach`, and `attach_status`; and
//! `bpfx_progress`, the progress of the attach or detach running.

use super::{params, to_json};
use crate::attach::mirror;
use crate::error::Result;
use crate::state::rules;
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

/// `attach`: [`crate::attach::mirror::AttachOptions`] in, [`crate::attach::mirror::AttachReport`] out.
pub fn attach(op: &str, p: Value) -> Result<Value> {
    to_json(&rules::attach(&params(op, p)?)?)
}

/// `detach`: the pin root (and expose root, name) in, what went out.
pub fn detach(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        pin_root: PathBuf,
        expose_root: Option<PathBuf>,
        name: Option<String>,
        state: Option<PathBuf>,
    }
    let P {
        pin_root,
        expose_root,
        name,
        state,
    } = params(op, p)?;
    to_json(&rules::detach(
        &pin_root,
        expose_root.as_deref(),
        name.as_deref(),
        state.as_deref(),
    )?)
}

/// `cgroup_nearest`: a cgroup path in; whether it exists, and the nearest
/// directory of it that does (canonical), with the names still missing
/// below it.
pub fn cgroup_nearest(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        path: String,
    }
    let P { path } = params(op, p)?;
    let (near, id, missing) = crate::fs::cgroups::nearest(&path)?;
    Ok(serde_json::json!({
        "exists": missing.as_os_str().is_empty(),
        "nearest": near,
        "id": id,
        "missing": missing,
    }))
}

/// `attach_status`: a state directory in, each rule with its cgroups out.
pub fn status(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        state: PathBuf,
    }
    let P { state } = params(op, p)?;
    to_json(&crate::state::status::status(&state)?)
}

/// Writes the progress of the running bulk operation (attach, detach) to
/// `out[0]` (done) and `out[1]` (total).
///
/// # Safety
/// `out` must be valid for two `u64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfx_progress(out: *mut u64) {
    if out.is_null() {
        return;
    }
    use std::sync::atomic::Ordering;
    // SAFETY: the caller guarantees two writable u64.
    unsafe {
        out.write_unaligned(mirror::PROGRESS[0].load(Ordering::Relaxed));
        out.add(1)
            .write_unaligned(mirror::PROGRESS[1].load(Ordering::Relaxed));
    }
}
