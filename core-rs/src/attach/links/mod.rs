//! Any program as a pinned link: one BPF link of a program to one target
//! (an interface, a kernel or user function, a tracepoint, a perf event, a
//! netfilter hook), pinned in bpffs. The pin is the link's only reference
//! bpfx keeps: unpinning it detaches the program.
//!
//! The kind of link comes from the program's type and, for a program loaded
//! from `OBJ:NAME`, its section (`kretprobe/...`, `uretprobe/...`,
//! `classifier/ingress`); the caller's `attach_type` overrides it and is
//! checked against the program's type. Each target is resolved and checked
//! here before any link is made, and the link is pinned last: a failure
//! leaves nothing behind (an unpinned link closes with its fd).
//!
//! - `kind`: the kinds of link, and the kind a program makes to a target;
//! - `make`: the link made for its kind, and the kernel's refusals said;
//! - `prog`: the program a link is made for (a pin, or one program of
//!   `OBJ:NAME` loaded);
//! - `targets`: what `--to` names, resolved and checked (interfaces, hooks,
//!   kernel and user functions, tracepoints, perf events).

mod kind;
mod make;
mod prog;
mod targets;

pub use kind::LinkKind;
pub(crate) use prog::{Opened, Prog, open_prog};
pub use targets::{glob_match, tracefs};

use kind::kind_for;
use make::make;

use crate::error::{Error, Result};
use crate::kernel::info::{self, ObjKind, ObjectInfo};
use crate::{fs::mounts, kernel::pins};
use serde::Deserialize;
use std::os::fd::AsFd;
use std::path::PathBuf;

/// What the caller asks for.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkRequest {
    /// A pinned program, or `OBJ:NAME`.
    pub prog: String,
    /// The target, in the form the link kind takes (see [`LinkKind`]).
    pub to: String,
    /// Where to pin the link (on bpffs).
    pub pin: PathBuf,
    /// Overrides the kind the program's type and section give.
    pub attach_type: Option<String>,
    /// xdp: `generic`, `native` or `offload` (default: the kernel's choice).
    pub mode: Option<String>,
    /// netfilter: the hook's priority (default 0).
    pub priority: Option<i32>,
    /// uprobe, uprobe_multi and perf_event: only this process.
    pub pid: Option<u32>,
    /// perf_event: the CPU (default 0 unless `pid` is given).
    pub cpu: Option<u32>,
    /// perf_event: sample every N events.
    pub period: Option<u64>,
    /// perf_event: sample N times a second (default 99).
    pub frequency: Option<u64>,
    /// Where maps pinned by name go when `prog` is `OBJ:NAME`.
    pub pin_by_name_root: Option<PathBuf>,
}

/// Makes the link `req` asks for and pins it; returns the link's
/// information (with its pin path). Nothing is left on failure.
pub fn attach(req: &LinkRequest) -> Result<ObjectInfo> {
    if req.to.is_empty() {
        return Err(Error::invalid("attach", "The target (--to) is empty"));
    }
    let pin = mounts::absolute(&req.pin);
    pins::check_new(&pin, "link")?;
    let p = open_prog(&req.prog, req.pin_by_name_root.as_deref())?;
    let kind = kind_for(&p, &req.to, req.attach_type.as_deref())?;
    let link = make(&p, kind, req)?;
    pins::pin_at(link.as_fd(), &pin, "link")?;
    let mut i = info::info_of_kind(link.as_fd(), ObjKind::Link)?;
    i.path = Some(pin.display().to_string());
    Ok(i)
}

/// Whether `r` failed with a message holding `text`.
#[cfg(test)]
fn says<T: std::fmt::Debug>(r: Result<T>, text: &str) -> bool {
    r.unwrap_err().message.contains(text)
}
