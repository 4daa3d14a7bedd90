//! Every program, map and link on the host, by id
//! (`BPF_*_GET_NEXT_ID`), not only those pinned; and the kernel's run-time
//! statistics, switched on with `BPF_ENABLE_STATS` for as long as this
//! process holds the fd.

use crate::error::{Error, Result};
use crate::kernel::info::{Detail, ObjKind, ObjectInfo, info_of_kind};
use crate::sys::{self, BpfCmd};
use serde::Serialize;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

/// One object on the host, as a metric of it needs it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostObject {
    pub kind: ObjKind,
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// Programs: nanoseconds run (0 unless stats are enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_time_ns: Option<u64>,
    /// Programs: runs (0 unless stats are enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_cnt: Option<u64>,
}

fn cmds(kind: ObjKind) -> (BpfCmd, BpfCmd) {
    match kind {
        ObjKind::Prog => (BpfCmd::ProgGetNextId, BpfCmd::ProgGetFdById),
        ObjKind::Map => (BpfCmd::MapGetNextId, BpfCmd::MapGetFdById),
        ObjKind::Link => (BpfCmd::LinkGetNextId, BpfCmd::LinkGetFdById),
    }
}

/// The objects of `kind` on the host, in id order. One that goes away while
/// it is read is left out.
pub fn objects(kind: ObjKind) -> Result<Vec<HostObject>> {
    let (next, by_id) = cmds(kind);
    let mut out = Vec::new();
    let mut id = 0;
    while let Some(n) = sys::next_id(next, id).map_err(|e| {
        Error::sys(format!("Cannot list the {}s on the host", kind.noun()), e)
            .with_hint("listing needs CAP_SYS_ADMIN: run as root")
    })? {
        id = n;
        let fd = match sys::fd_by_id(by_id, n) {
            Ok(fd) => fd,
            Err(e) if e.errno() == libc::ENOENT => continue,
            Err(e) => {
                return Err(Error::sys(
                    format!("Cannot open {} {n} of the host", kind.noun()),
                    e,
                ));
            }
        };
        let info: ObjectInfo = match info_of_kind(fd.as_fd(), kind) {
            Ok(info) => info,
            Err(e) if e.errno == libc::ENOENT => continue,
            Err(e) => return Err(e),
        };
        let (run_time_ns, run_cnt) = match &info.detail {
            Detail::Prog(p) => (Some(p.run_time_ns), Some(p.run_cnt)),
            _ => (None, None),
        };
        out.push(HostObject {
            kind,
            id: info.id,
            name: info.name,
            type_name: info.type_name,
            run_time_ns,
            run_cnt,
        });
    }
    Ok(out)
}

static STATS: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Switches the kernel's run-time statistics on (`BPF_ENABLE_STATS`) until
/// this process ends. Twice is once.
pub fn enable_stats() -> Result<()> {
    let mut held = STATS.lock().unwrap_or_else(|e| e.into_inner());
    if held.is_none() {
        let fd = sys::enable_run_time_stats().map_err(|e| {
            Error::sys("Cannot enable the programs' run-time statistics", e).with_hint(
                "BPF_ENABLE_STATS needs CAP_SYS_ADMIN and Linux 5.8; or set sysctl kernel.bpf_stats_enabled=1",
            )
        })?;
        *held = Some(fd);
    }
    Ok(())
}
