//! The pins that exist: the views and cgroup links found in a pin tree,
//! walked by handles, and what each holds (its cgroup, link, program and
//! kind), read from the kernel.

use super::names::decode_rel;
use super::roots::open_pin_root;
use super::sys_err;
use crate::attach::cgroup_links;
use crate::error::{Result, q};
use crate::fs::paths::{self, Dir};
use crate::kernel::info::{self, Detail, ObjKind};
use crate::kernel::pins;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// A view or cgroup link found in the pin tree: where (its directory,
/// encoded, relative to the pin root) and what it is.
pub(super) struct Existing {
    pub(super) enc_rel: PathBuf,
    pub(super) cgroup_id: u64,
    pub(super) held: Held,
}

/// What a pin of bpfx's kind holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Held {
    pub(super) cgroup_id: u64,
    pub(super) link_id: u32,
    pub(super) prog_id: u32,
    /// `None`: a view; else a cgroup link's attach type.
    pub(super) attach: Option<u32>,
}

/// Which pins a walk of the pin tree takes: views, the cgroup links of one
/// attach type, or both kinds (`Any`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    Any,
    Kind(Option<u32>),
}

/// What is pinned at `name` in `dir`, if it is a cgroup iterator link (a
/// view) or a cgroup link (a cgroup program's link; its cgroup id is 0 once
/// the kernel detached it from a removed cgroup).
pub(super) fn held_at(dir: &Dir, name: &(impl AsRef<std::ffi::OsStr> + ?Sized)) -> Option<Held> {
    let fd = dir.obj_get(name).ok()?;
    held_by(fd.as_fd())
}

pub(super) fn held_by(fd: BorrowedFd<'_>) -> Option<Held> {
    let i = info::info_of_kind(fd, ObjKind::Link).ok()?;
    let Detail::Link(l) = &i.detail else {
        return None;
    };
    let cgroup_id = l.target.get("cgroupId").and_then(|v| v.as_u64())?;
    let attach = match i.type_name.as_str() {
        "iter" if l.target.get("iter").and_then(|v| v.as_str()) == Some("cgroup") => None,
        "cgroup" => {
            let name = l.target.get("attachType").and_then(|v| v.as_str())?;
            Some(
                (0..64u32)
                    .find(|v| crate::kernel::names::attach_type(*v) == name)
                    .filter(|v| cgroup_links::name_of(*v).is_some())?,
            )
        }
        _ => return None,
    };
    Some(Held {
        cgroup_id,
        link_id: i.id,
        prog_id: l.prog_id,
        attach,
    })
}

/// Finds the cgroup iterator links named `name` (or any name) in the pin
/// tree below `start` (encoded, relative to the pin root `root`), walked by
/// handles: no symlink followed, never off the pin root's mount. Keyed by
/// decoded cgroup path and file name.
pub(super) fn existing_views(
    root: &Dir,
    start: &Path,
    name: Option<&str>,
    want: Want,
) -> Result<BTreeMap<PathBuf, Existing>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![start.to_path_buf()];
    while let Some(rel) = stack.pop() {
        let dir = match root.open_rel(&rel, false) {
            Ok(d) => d,
            Err(e) if e.errno() == libc::ENOENT => continue,
            Err(e) => {
                let p = root.path().join(&rel);
                return Err(sys_err(format!("Cannot read {}", q(&p)), &p, e));
            }
        };
        let entries = dir
            .entries()
            .map_err(|e| sys_err(format!("Cannot read {}", q(dir.path())), dir.path(), e))?;
        for entry in entries {
            let file = entry.name;
            if entry.kind == paths::DT_DIR {
                stack.push(rel.join(&file));
                continue;
            }
            if entry.kind != paths::DT_REG
                || name.is_some_and(|n| n != file)
                || pins::is_preload(Path::new(&file))
            {
                continue;
            }
            let Some(held) = held_at(&dir, &file) else {
                continue; // not a view or link bpfx makes: leave it alone
            };
            if want != Want::Any && want != Want::Kind(held.attach) {
                continue;
            }
            out.insert(
                decode_rel(&rel).join(&file),
                Existing {
                    enc_rel: rel.clone(),
                    cgroup_id: held.cgroup_id,
                    held,
                },
            );
        }
    }
    Ok(out)
}

/// A view or link found pinned for a rule.
pub struct Pinned {
    pub cgroup_id: u64,
    pub link_id: u32,
    pub pin: PathBuf,
}

/// The views (`attach` `None`) or cgroup links of one attach type pinned
/// as `name` under `pin_root`, by cgroup path.
pub fn pinned(
    pin_root: &Path,
    name: &str,
    attach: Option<u32>,
) -> Result<BTreeMap<PathBuf, Pinned>> {
    let Some(root) = open_pin_root(pin_root, false)? else {
        return Ok(BTreeMap::new());
    };
    Ok(
        existing_views(&root, Path::new(""), Some(name), Want::Kind(attach))?
            .into_iter()
            .map(|(key, e)| {
                let rel = key.parent().unwrap_or(Path::new("")).to_path_buf();
                let pin = pin_root.join(&e.enc_rel).join(name);
                (
                    rel,
                    Pinned {
                        cgroup_id: e.cgroup_id,
                        link_id: e.held.link_id,
                        pin,
                    },
                )
            })
            .collect(),
    )
}
