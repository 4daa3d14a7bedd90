//! The control requests of the state directory: `manifest`, what the user
//! asked for, and `desired_record`, what a desired-state file made.

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
