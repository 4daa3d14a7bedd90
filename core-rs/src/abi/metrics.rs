//! The control requests that `bpfx serve` reads at scrape time beside maps
//! and views: `host_objects` (every program, map and link by id),
//! `stats_enable` (`BPF_ENABLE_STATS`), `name_tables` (system call and errno
//! names), `ksyms` (kernel addresses' functions), `ifnames` (interface
//! names) and `cgroup_paths` (every cgroup's id and path).

use super::{params, to_json};
use crate::error::{Error, Result};
use crate::fs::cgroups;
use crate::kernel::host;
use crate::kernel::info::ObjKind;
use crate::kernel::symbols;
use serde::Deserialize;
use serde_json::{Value, json};

/// `host_objects`: nothing in; the programs, maps and links on the host.
pub fn host_objects(_op: &str, _p: Value) -> Result<Value> {
    Ok(json!({
        "progs": to_json(&host::objects(ObjKind::Prog)?)?,
        "maps": to_json(&host::objects(ObjKind::Map)?)?,
        "links": to_json(&host::objects(ObjKind::Link)?)?,
    }))
}

/// `stats_enable`: nothing in; run-time statistics on until the process ends.
pub fn stats_enable(_op: &str, _p: Value) -> Result<Value> {
    host::enable_stats()?;
    Ok(json!({}))
}

/// `name_tables`: nothing in; `syscalls` and `errnos` as `[number, name]`.
pub fn name_tables(_op: &str, _p: Value) -> Result<Value> {
    Ok(json!({ "syscalls": symbols::syscalls(), "errnos": symbols::errnos() }))
}

/// `ksyms`: addresses in (decimal strings); each one's function, or null.
pub fn ksyms(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        addrs: Vec<String>,
    }
    let P { addrs } = params(op, p)?;
    let addrs = addrs
        .iter()
        .map(|a| {
            a.parse::<u64>()
                .map_err(|_| Error::invalid(op, format!("Invalid address \"{a}\"")))
        })
        .collect::<Result<Vec<u64>>>()?;
    to_json(&symbols::ksyms(&addrs)?)
}

/// `ifnames`: interface indexes in; each one's name here, or null.
pub fn ifnames(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        indexes: Vec<u32>,
    }
    let P { indexes } = params(op, p)?;
    let names: Vec<Option<String>> = indexes
        .iter()
        .map(|&i| crate::sys::links::if_indextoname(i))
        .collect();
    to_json(&names)
}

/// `cgroup_paths`: nothing in; the cgroup2 mount, and each cgroup's id with
/// its path below it: `path` when the path is UTF-8, else `hex`, its bytes.
pub fn cgroup_paths(_op: &str, _p: Value) -> Result<Value> {
    let root = cgroups::root()?;
    let list: Vec<Value> = cgroups::ids(&root)?
        .iter()
        .map(|(rel, id)| match std::str::from_utf8(rel) {
            Ok(s) => json!({ "id": id, "path": s }),
            Err(_) => json!({
                "id": id,
                "hex": rel.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            }),
        })
        .collect();
    Ok(json!({ "root": root.to_string_lossy(), "cgroups": list }))
}
