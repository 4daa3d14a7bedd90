//! The control requests of pins in bpffs: `ls`, `show`, `unpin` and
//! `pin_rename`.

use super::{PathParam, params, to_json};
use crate::error::{Error, Result};
use crate::kernel::pins;
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

/// `ls`: a bpffs directory (and a depth) in, the pins under it out.
pub fn ls(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        path: Option<PathBuf>,
        depth: Option<u32>,
    }
    let P { path, depth } = params(op, p)?;
    let path = path.unwrap_or_else(|| PathBuf::from(crate::fs::mounts::DEFAULT_BPFFS));
    if depth == Some(0) {
        return Err(Error::invalid(op, "The depth must be at least 1"));
    }
    to_json(&pins::ls(&path, depth)?)
}

/// `show`: a pin in, what it holds out.
pub fn show(op: &str, p: Value) -> Result<Value> {
    let PathParam { path } = params(op, p)?;
    to_json(&pins::show(&path)?)
}

/// `unpin`: a pin or a directory (recursive) in, what went out.
pub fn unpin(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        path: PathBuf,
        #[serde(default)]
        recursive: bool,
    }
    let P { path, recursive } = params(op, p)?;
    to_json(&pins::unpin(&path, recursive)?)
}

/// `pin_rename`: a pin (or directory) and where to move it in bpffs (and
/// whether to make the directories missing above it) in;
/// `{}` out.
pub fn rename(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        from: PathBuf,
        to: PathBuf,
        #[serde(default)]
        no_replace: bool,
        #[serde(default)]
        parents: bool,
    }
    let P {
        from,
        to,
        no_replace,
        parents,
    } = params(op, p)?;
    pins::rename(&from, &to, no_replace, parents)?;
    Ok(serde_json::json!({}))
}
