//! The control requests of the host: `doctor` (what this host offers, and
//! its fixes), `mount_bpffs` and `umount`.

use super::{PathParam, params, to_json};
use crate::doctor;
use crate::error::Result;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::Path;

/// `doctor`: whether to fix in, what this host offers out.
pub fn doctor(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        #[serde(default)]
        fix: bool,
    }
    let P { fix } = params(op, p)?;
    to_json(&doctor::doctor(fix)?)
}

/// `mount_bpffs`: a directory in, bpffs mounted on it.
pub fn mount_bpffs(op: &str, p: Value) -> Result<Value> {
    let PathParam { path } = params(op, p)?;
    doctor::mount_bpffs(&path)?;
    Ok(json!({}))
}

/// `umount`: a bpffs mount point in, unmounted.
pub fn umount(op: &str, p: Value) -> Result<Value> {
    let PathParam { path } = params(op, p)?;
    doctor::umount_bpffs(Path::new(&path))?;
    Ok(json!({}))
}
