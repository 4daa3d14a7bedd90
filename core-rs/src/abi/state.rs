//! The control requests of the state directory: `manifest`, what the user
//! asked for, `desired_record`, what a desired-state file made, and
//! `state_hold` and `state_release`, its lock held across calls.

use super::{params, to_json};
use crate::error::Result;
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

/// `manifest`: a state directory in, its manifest out.
pub fn manifest(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        state: PathBuf,
    }
    let P { state } = params(op, p)?;
    to_json(&crate::state::manifest::read(&state)?)
}

/// `desired_record`: a state directory and a change of what one
/// desired-state file owns in; what the file owns now out.
pub fn desired_record(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        state: PathBuf,
        #[serde(flatten)]
        change: crate::state::desired::Change,
    }
    let P { state, change } = params(op, p)?;
    to_json(&crate::state::desired::record(&state, &change)?)
}

#[derive(Deserialize)]
struct StateParam {
    state: PathBuf,
}

/// `state_hold`: a state directory in (made when missing); its lock taken
/// and kept past the call, shared by every call of this process, until as
/// many `state_release`. `{held: n}` out.
pub fn hold(op: &str, p: Value) -> Result<Value> {
    let StateParam { state } = params(op, p)?;
    let s = crate::state::manifest::State::open(&state, true)?.expect("made");
    Ok(serde_json::json!({ "held": s.hold()? }))
}

/// `state_release`: a state directory in; one hold given back, `{held: n}`
/// (those left) out.
pub fn release(op: &str, p: Value) -> Result<Value> {
    let StateParam { state } = params(op, p)?;
    let held = match crate::state::manifest::State::open(&state, false)? {
        Some(s) => s.release(),
        None => 0,
    };
    Ok(serde_json::json!({ "held": held }))
}
