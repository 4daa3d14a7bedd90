//! The control requests of single-target links (`link_attach`).

use super::{params, to_json};
use crate::error::Result;
use serde_json::Value;

/// `link_attach`: [`crate::attach::links::LinkRequest`] in, the link's information out.
pub fn attach(op: &str, p: Value) -> Result<Value> {
    let req: crate::attach::links::LinkRequest = params(op, p)?;
    to_json(&crate::attach::links::attach(&req)?)
}
