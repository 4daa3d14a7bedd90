//! Moving a link onto another program in one step (`BPF_LINK_UPDATE`), so
//! that its hook is never empty: cgroup, xdp, tcx, netkit, iterator and
//! sockmap links take it; perf-event links (kprobes, uprobes, tracepoints),
//! tracing, raw tracepoint, kprobe_multi, uprobe_multi and netfilter links
//! do not, and for those the caller makes the new link before the old one
//! goes.

use crate::error::{Error, Kind, Result, q};
use crate::kernel::info::{self, Detail, ObjKind};
use crate::kernel::pins;
use crate::sys;
use serde::Serialize;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// Link types the kernel cannot move onto another program (their
/// `bpf_link_ops` have no `update_prog`, or it refuses).
pub const NO_UPDATE: &[&str] = &[
    "perf_event",
    "tracing",
    "raw_tracepoint",
    "kprobe_multi",
    "uprobe_multi",
    "netfilter",
    "struct_ops",
];

/// A link moved: its id, type, and the programs it held and holds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Moved {
    pub link_id: u32,
    #[serde(rename = "type")]
    pub type_name: String,
    pub from_prog_id: u32,
    pub to_prog_id: u32,
}

fn link_of(fd: BorrowedFd<'_>) -> Result<(u32, String, u32)> {
    let i = info::info_of_kind(fd, ObjKind::Link)?;
    let Detail::Link(l) = &i.detail else {
        return Err(Error::internal("a link's information is not a link's"));
    };
    Ok((i.id, i.type_name, l.prog_id))
}

/// Moves the link `link` onto the program `prog`; with `old`, only while it
/// still holds that program (`BPF_F_REPLACE`). `shown` names the link in
/// errors. An error of kind `not-supported` means the link's type does not
/// take the move: make the new link before the old one goes instead.
pub fn update_fd(
    link: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    old: Option<BorrowedFd<'_>>,
    shown: &str,
) -> Result<Moved> {
    let (link_id, type_name, from_prog_id) = link_of(link)?;
    let to_prog_id = info::info_of_kind(prog, ObjKind::Prog)?.id;
    let what =
        format!("Cannot move link {shown} ({type_name}, id {link_id}) onto program {to_prog_id}");
    if let Err(e) = sys::links::bpf_link_update(link, prog, old) {
        let errno = e.errno();
        let err = Error::sys(what.clone(), e);
        return Err(match errno {
            libc::EOPNOTSUPP | libc::EINVAL if NO_UPDATE.contains(&type_name.as_str()) => err
                .with_kind(Kind::NotSupported)
                .with_message(format!(
                    "{what}: a {type_name} link does not take BPF_LINK_UPDATE"
                ))
                .with_hint("make the new link before the old one goes"),
            libc::EOPNOTSUPP => err
                .with_kind(Kind::NotSupported)
                .with_hint("make the new link before the old one goes"),
            libc::EPERM if old.is_some() => err
                .with_kind(Kind::Busy)
                .with_message(format!(
                    "{what}: it no longer holds the program it was to be moved from (it holds {from_prog_id})"
                ))
                .with_hint("read the link again and retry"),
            libc::EINVAL => err.with_hint(
                "the new program must be of the link's program type and attach type (and an iterator's target)",
            ),
            _ => err,
        });
    }
    Ok(Moved {
        link_id,
        type_name,
        from_prog_id,
        to_prog_id,
    })
}

/// Moves the link pinned at `link` onto the program pinned at `prog`; with
/// `old`, only while it still holds the program pinned there.
pub fn update(link: &Path, prog: &Path, old: Option<&Path>) -> Result<Moved> {
    let (l, _) = pins::open(link, Some(ObjKind::Link))?;
    let (p, _) = pins::open(prog, Some(ObjKind::Prog))?;
    let o = old
        .map(|o| pins::open(o, Some(ObjKind::Prog)).map(|x| x.0))
        .transpose()?;
    update_fd(
        l.as_fd(),
        p.as_fd(),
        o.as_ref().map(|o| o.as_fd()),
        &q(link),
    )
    .map_err(|e| e.with_path(link))
}
