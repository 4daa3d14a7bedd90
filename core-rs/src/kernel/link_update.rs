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
        return Err(update_error(
            e,
            &what,
            &type_name,
            old.is_some(),
            from_prog_id,
        ));
    }
    Ok(Moved {
        link_id,
        type_name,
        from_prog_id,
        to_prog_id,
    })
}

/// The error of a refused `BPF_LINK_UPDATE` of a `type_name` link, in
/// bpfx's words: `not-supported` for a type that does not take it, `busy`
/// when the link no longer held the old program given.
fn update_error(
    e: sys::SysError,
    what: &str,
    type_name: &str,
    had_old: bool,
    from_prog_id: u32,
) -> Error {
    let errno = e.errno();
    let err = Error::sys(what.to_string(), e);
    match errno {
        libc::EOPNOTSUPP | libc::EINVAL if NO_UPDATE.contains(&type_name) => err
            .with_kind(Kind::NotSupported)
            .with_message(format!(
                "{what}: a {type_name} link does not take BPF_LINK_UPDATE"
            ))
            .with_hint("make the new link before the old one goes"),
        libc::EOPNOTSUPP => err
            .with_kind(Kind::NotSupported)
            .with_hint("make the new link before the old one goes"),
        libc::EPERM if had_old => err
            .with_kind(Kind::Busy)
            .with_message(format!(
                "{what}: it no longer holds the program it was to be moved from (it holds {from_prog_id})"
            ))
            .with_hint("read the link again and retry"),
        libc::EINVAL => err.with_hint(
            "the new program must be of the link's program type and attach type (and an iterator's target)",
        ),
        _ => err,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{BpfCmd, Call, fake};
    use std::os::fd::BorrowedFd;

    fn refused(errno: i32, type_name: &str, had_old: bool) -> Error {
        // SAFETY: fds 3 and 4 are only passed as numbers to the fake.
        let (l, p) = unsafe { (BorrowedFd::borrow_raw(3), BorrowedFd::borrow_raw(4)) };
        let o = had_old.then_some(p);
        let _g = fake::install(move |c| match c {
            Call::Bpf {
                cmd: BpfCmd::LinkUpdate,
                attr,
            } => {
                // link_fd, new_prog_fd, flags, old_prog_fd.
                let word = |i: usize| u32::from_ne_bytes(attr[i..i + 4].try_into().unwrap());
                assert_eq!((word(0), word(4)), (3, 4));
                let flags = if had_old {
                    sys::links::BPF_F_REPLACE
                } else {
                    0
                };
                assert_eq!(word(8), flags);
                assert_eq!(word(12), if had_old { 4 } else { 0 });
                fake::errno(errno)
            }
            _ => None,
        });
        let e = sys::links::bpf_link_update(l, p, o).unwrap_err();
        assert_eq!(e.op, "BPF_LINK_UPDATE");
        update_error(e, "Cannot move link \"/b/l\"", type_name, had_old, 7)
    }

    #[test]
    fn a_type_without_update_is_not_supported() {
        let e = refused(libc::EINVAL, "perf_event", false);
        assert_eq!(e.kind, Kind::NotSupported);
        assert_eq!(
            e.message,
            "Cannot move link \"/b/l\": a perf_event link does not take BPF_LINK_UPDATE"
        );
        assert_eq!(
            refused(libc::EOPNOTSUPP, "netfilter", false).kind,
            Kind::NotSupported
        );
    }

    #[test]
    fn a_link_holding_another_program_is_busy() {
        let e = refused(libc::EPERM, "cgroup", true);
        assert_eq!(e.kind, Kind::Busy);
        assert!(e.message.ends_with("(it holds 7)"), "{}", e.message);
        // Without an old program, EPERM is a permission error.
        assert_eq!(refused(libc::EPERM, "cgroup", false).kind, Kind::Permission);
    }

    #[test]
    fn a_program_of_another_type_is_invalid() {
        let e = refused(libc::EINVAL, "iter", false);
        assert_eq!(e.kind, Kind::Invalid);
        assert!(e.hint.as_deref().unwrap_or("").contains("attach type"));
    }
}
