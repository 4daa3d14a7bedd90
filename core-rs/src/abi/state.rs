//! The control request of the state directory: `manifest`, what the user
//! asked for.

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
