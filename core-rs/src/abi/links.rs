//! The control requests of single-target links (`link_attach`) and of
//! moving a link onto another program (`link_update`).

use super::{params, to_json};
use crate::error::Result;
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

/// `link_attach`: [`crate::attach::links::LinkRequest`] in, the link's information out.
pub fn attach(op: &str, p: Value) -> Result<Value> {
    let req: crate::attach::links::LinkRequest = params(op, p)?;
    to_json(&crate::attach::links::attach(&req)?)
}

/// `link_update`: a link's pin, a program's pin (and the program it must
/// hold now) in; the link, and the programs it held and holds, out.
pub fn update(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        link: PathBuf,
        prog: PathBuf,
        old: Option<PathBuf>,
    }
    let P { link, prog, old } = params(op, p)?;
    to_json(&crate::kernel::link_update::update(
        &link,
        &prog,
        old.as_deref(),
    )?)
}
