//! The control requests of exposures: `expose` (on the host, or into a
//! container), `unexpose`, and `exposures`, the list.

use super::{params, to_json};
use crate::error::Result;
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

/// `expose`: a pin and a path in (a symlink, a bind mount, or into a
/// container), the exposure out.
pub fn expose(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        state: PathBuf,
        pin: PathBuf,
        path: PathBuf,
        #[serde(default)]
        bind: bool,
        #[serde(default)]
        into: Option<IntoP>,
        #[serde(default)]
        parents: bool,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct IntoP {
        pid: u32,
        #[serde(default)]
        start_time: Option<u64>,
    }
    let P {
        state,
        pin,
        path,
        bind,
        into,
        parents,
    } = params(op, p)?;
    if let Some(i) = into {
        let into = crate::expose::container::Into {
            pid: i.pid,
            start_time: i.start_time,
        };
        return to_json(&crate::state::exposures::expose_into(
            &state, &pin, &path, into, parents,
        )?);
    }
    let mode = if bind {
        crate::expose::exposure::Mode::Bind
    } else {
        crate::expose::exposure::Mode::Symlink
    };
    to_json(&crate::state::exposures::expose(
        &state, &pin, &path, mode, parents,
    )?)
}

/// `unexpose`: an exposed path (maybe in a container) in, what went out.
pub fn unexpose(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        state: PathBuf,
        path: PathBuf,
        #[serde(default)]
        into: Option<u32>,
    }
    let P { state, path, into } = params(op, p)?;
    to_json(&crate::state::exposures::unexpose(&state, &path, into)?)
}

/// `exposures`: a state directory in, its exposures out.
pub fn exposures(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        state: PathBuf,
    }
    let P { state } = params(op, p)?;
    to_json(&crate::state::exposures::list(&state)?)
}
