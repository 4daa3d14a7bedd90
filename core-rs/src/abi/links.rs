//! The control requests of single-target links (`link_attach`).

use super::{params, to_json};
use crate::error::Result;
use serde_json::Value;

/// `link_attach`: [`crate::links::LinkRequest`] in, the link's information out.
pub fn attach(op: &str, p: Value) -> Result<Value> {
    let req: crate::links::LinkRequest = params(op, p)?;
    to_json(&crate::links::attach(&req)?)
}
