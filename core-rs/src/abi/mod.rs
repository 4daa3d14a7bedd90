//! The `extern "C"` exports: status codes, `(ptr, len)` buffers, handle ids
//! with a paired close. No logic of their own: each control request is
//! decoded in its group's file and handed to the core. See docs/ABI.md.
//!
//! This file holds `dispatch`, the table of control requests; the groups of
//! exports and requests have a file each:
//! - `attach`: the requests of rules over a cgroup subtree, and
//!   `bpfx_progress`;
//! - `buffers`: slices over the caller's `(ptr, len)` buffers, and the error
//!   text written into one;
//! - `control`: `bpfx_abi_version`, `bpfx_call` and its status codes, and
//!   `bpfx_fetch` for the replies parked when too big;
//! - `doctor`: the requests of the host (`doctor`, `mount_bpffs`, `umount`);
//! - `expose`: the requests of exposures (`expose`, `unexpose`, `exposures`);
//! - `handles`: `open` and `handle_info`, and the exports `bpfx_close` and
//!   `bpfx_open_handles`;
//! - `links`: the requests of single-target links, and `link_update`;
//! - `maps`: `map_btf`, and the data lane of maps (`bpfx_map_*`);
//! - `metrics`: what `bpfx serve` reads beside maps and views
//!   (`host_objects`, `stats_enable`, `name_tables`, `ksyms`, `ifnames`,
//!   `cgroup_paths`);
//! - `object`: the requests of the ELF side (`inspect`, `load`, `run`), and
//!   `file_read` (a file's sha256 and text);
//! - `panics`: the quiet panic hook, and the error a caught panic becomes;
//! - `pins`: the requests of pins in bpffs (`ls`, `show`, `unpin`,
//!   `pin_rename`);
//! - `sources`: event sources (`events_open`, `watch_open`, `ringbuf_open`)
//!   and their exports, `bpfx_next` and `bpfx_wake`;
//! - `state`: the requests of the state directory (`manifest`,
//!   `desired_record`, `state_hold`, `state_release`);
//! - `views`: `view_create`, `view_open`, `views_read` (many views' texts),
//!   and `bpfx_read`, the data lane of views.

use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;

mod attach;
mod buffers;
mod control;
mod doctor;
mod expose;
mod handles;
mod links;
mod maps;
mod metrics;
mod object;
mod panics;
mod pins;
mod sources;
mod state;
mod views;

pub use panics::quiet_panics;

pub const ABI_VERSION: u32 = 1;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PathParam {
    path: PathBuf,
}

fn params<T: for<'de> Deserialize<'de>>(op: &str, v: Value) -> Result<T> {
    serde_json::from_value(v)
        .map_err(|e| Error::invalid(op, format!("Invalid parameters for \"{op}\": {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("Cannot encode the reply: {e}")))
}

/// Runs one control request.
pub fn dispatch(op: &str, p: Value) -> Result<Value> {
    match op {
        "version" => {
            Ok(json!({ "version": env!("CARGO_PKG_VERSION"), "abi": ABI_VERSION, "aya": "0.14.0" }))
        }
        "inspect" => object::inspect(op, p),
        "object_map_btf" => object::object_map_btf(op, p),
        "load" => object::load(op, p),
        "run" => object::run(op, p),
        "file_read" => object::file_read(op, p),
        "ls" => pins::ls(op, p),
        "show" => pins::show(op, p),
        "unpin" => pins::unpin(op, p),
        "pin_rename" => pins::rename(op, p),
        "open" => handles::open(op, p),
        "handle_info" => handles::handle_info(op, p),
        "view_create" => views::view_create(op, p),
        "link_attach" => links::attach(op, p),
        "link_update" => links::update(op, p),
        "view_open" => views::view_open(op, p),
        "views_read" => views::views_read(op, p),
        "attach" => attach::attach(op, p),
        "detach" => attach::detach(op, p),
        "attach_status" => attach::status(op, p),
        "cgroup_nearest" => attach::cgroup_nearest(op, p),
        "events_open" => sources::events_open(op, p),
        "watch_open" => sources::watch_open(op, p),
        "expose" => expose::expose(op, p),
        "unexpose" => expose::unexpose(op, p),
        "exposures" => expose::exposures(op, p),
        "manifest" => state::manifest(op, p),
        "desired_record" => state::desired_record(op, p),
        "state_hold" => state::hold(op, p),
        "state_release" => state::release(op, p),
        "map_btf" => maps::map_btf(op, p),
        "ringbuf_open" => sources::ringbuf_open(op, p),
        "doctor" => doctor::doctor(op, p),
        "mount_bpffs" => doctor::mount_bpffs(op, p),
        "umount" => doctor::umount(op, p),
        "host_objects" => metrics::host_objects(op, p),
        "stats_enable" => metrics::stats_enable(op, p),
        "name_tables" => metrics::name_tables(op, p),
        "ksyms" => metrics::ksyms(op, p),
        "ifnames" => metrics::ifnames(op, p),
        "cgroup_paths" => metrics::cgroup_paths(op, p),
        _ => Err(Error::invalid(op, format!("Unknown operation \"{op}\""))),
    }
}
