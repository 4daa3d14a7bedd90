//! Cgroup programs as links: which attach type a program takes (from its
//! section, its type, or the caller's choice, checked against the type),
//! which cgroups of a subtree a rule selects, and one `BPF_LINK_CREATE` of
//! a program on a cgroup opened by handle.
//!
//! The tree of links over a subtree (pins under the pin root, the watcher's
//! rule) is the mirror's (`mirror.rs`), shared with views.

use crate::attach::links;
use crate::error::{Error, Kind, Result, q};
use crate::sys::{self, links::LinkExtra};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The cgroup attach types: bpftool's short name, the kernel's value
/// (`enum bpf_attach_type`), and the program type that takes it.
pub const ATTACH_TYPES: &[(&str, u32, &str)] = &[
    ("ingress", 0, "cgroup_skb"),
    ("egress", 1, "cgroup_skb"),
    ("sock_create", 2, "cgroup_sock"),
    ("sock_ops", 3, "sock_ops"),
    ("device", 6, "cgroup_device"),
    ("bind4", 8, "cgroup_sock_addr"),
    ("bind6", 9, "cgroup_sock_addr"),
    ("connect4", 10, "cgroup_sock_addr"),
    ("connect6", 11, "cgroup_sock_addr"),
    ("post_bind4", 12, "cgroup_sock"),
    ("post_bind6", 13, "cgroup_sock"),
    ("sendmsg4", 14, "cgroup_sock_addr"),
    ("sendmsg6", 15, "cgroup_sock_addr"),
    ("sysctl", 18, "cgroup_sysctl"),
    ("recvmsg4", 19, "cgroup_sock_addr"),
    ("recvmsg6", 20, "cgroup_sock_addr"),
    ("getsockopt", 21, "cgroup_sockopt"),
    ("setsockopt", 22, "cgroup_sockopt"),
    ("getpeername4", 29, "cgroup_sock_addr"),
    ("getpeername6", 30, "cgroup_sock_addr"),
    ("getsockname4", 31, "cgroup_sock_addr"),
    ("getsockname6", 32, "cgroup_sock_addr"),
    ("sock_release", 34, "cgroup_sock"),
    ("connect_unix", 49, "cgroup_sock_addr"),
    ("sendmsg_unix", 50, "cgroup_sock_addr"),
    ("recvmsg_unix", 51, "cgroup_sock_addr"),
    ("getpeername_unix", 52, "cgroup_sock_addr"),
    ("getsockname_unix", 53, "cgroup_sock_addr"),
];

/// The program types that attach to cgroups.
pub fn is_cgroup_type(prog_type: &str) -> bool {
    ATTACH_TYPES.iter().any(|(_, _, t)| *t == prog_type)
}

/// Whether `name` is a cgroup attach type (and not a `--to` link kind).
pub fn is_attach_type(name: &str) -> bool {
    ATTACH_TYPES.iter().any(|(n, _, _)| *n == name)
}

/// The kernel's value of the attach type `name`.
pub fn value(name: &str) -> Result<u32> {
    ATTACH_TYPES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, v, _)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = ATTACH_TYPES.iter().map(|(n, _, _)| *n).collect();
            Error::invalid(
                "attach",
                format!(
                    "Unknown cgroup attach type \"{name}\": use one of {}",
                    names.join(", ")
                ),
            )
        })
}

/// The short name of the attach type `v`, as [`ATTACH_TYPES`] has it.
pub fn name_of(v: u32) -> Option<&'static str> {
    ATTACH_TYPES
        .iter()
        .find(|(_, n, _)| *n == v)
        .map(|(n, _, _)| *n)
}

/// The attach type a section names (`cgroup_skb/egress`, `cgroup/sysctl`,
/// `sockops`, ...), when it names exactly one.
fn of_section(section: &str) -> Option<&'static str> {
    let (head, tail) = section.split_once('/').unwrap_or((section, ""));
    let tail = tail.split('/').next().unwrap_or("");
    let name = match (head, tail) {
        ("cgroup_skb", t) => t,
        ("sockops", _) => "sock_ops",
        ("cgroup", "dev") => "device",
        ("cgroup", "sock") => "sock_create",
        ("cgroup", "skb") => return None,
        ("cgroup", t) => t,
        _ => return None,
    };
    ATTACH_TYPES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(n, _, _)| *n)
}

/// The attach types a program of `prog_type` may take.
fn takes(prog_type: &str) -> Vec<&'static str> {
    ATTACH_TYPES
        .iter()
        .filter(|(_, _, t)| *t == prog_type)
        .map(|(n, _, _)| *n)
        .collect()
}

/// The attach type for program `what` of `prog_type` (from `section` when
/// it was loaded from an object): `given` when the caller chose, checked
/// against the type; else the section's; else the type's only one.
pub fn resolve(
    what: &str,
    prog_type: &str,
    section: Option<&str>,
    given: Option<&str>,
) -> Result<&'static str> {
    let can = takes(prog_type);
    if can.is_empty() {
        return Err(Error::new(
            Kind::WrongKind,
            "attach",
            format!(
                "Cannot attach {what} to cgroups: its type is {prog_type}, which does not attach to a cgroup"
            ),
        )
        .with_hint("--cgroup-root takes a cgroup iterator (views) or a cgroup program (cgroup_skb, cgroup_sock, cgroup_sock_addr, sock_ops, cgroup_device, cgroup_sysctl, cgroup_sockopt); attach other programs with --to"));
    }
    if let Some(g) = given {
        value(g)?;
        return can.iter().find(|n| **n == g).copied().ok_or_else(|| {
            Error::new(
                Kind::WrongKind,
                "attach",
                format!(
                    "Cannot attach {what} as \"{g}\": its type is {prog_type}, which takes {}",
                    quoted(&can)
                ),
            )
        });
    }
    if let Some(s) = section.and_then(of_section)
        && can.contains(&s)
    {
        return Ok(s);
    }
    match can.as_slice() {
        [only] => Ok(only),
        _ => Err(Error::invalid(
            "attach",
            format!(
                "Cannot tell where {what} attaches: a {prog_type} program takes {}",
                quoted(&can)
            ),
        )
        .with_hint(
            "give --attach-type (a pinned program does not say the attach type it was loaded for)",
        )),
    }
}

fn quoted(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    match q.as_slice() {
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
        [] => "nothing".into(),
    }
}

/// Which cgroups of a subtree a rule takes: those exactly `depth` levels
/// below the root (0: the root), and those whose name matches `glob`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub depth: Option<u32>,
    pub glob: Option<String>,
}

impl Selection {
    /// Whether the cgroup at `rel` (relative to the root) is selected.
    pub fn selects(&self, rel: &Path) -> bool {
        let level = rel.components().count() as u32;
        if self.depth.is_some_and(|d| d != level) {
            return false;
        }
        match &self.glob {
            None => true,
            Some(g) => {
                // On the name's bytes: `job*` takes `job\xff` too.
                let name = rel.file_name().map(|n| n.as_bytes());
                name.is_some_and(|n| links::glob_match(g, n))
            }
        }
    }
}

/// Makes the link of `prog` on the cgroup open at `cgroup` with
/// `attach_type`, named `rel` in errors.
pub fn make(
    prog: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
    attach_type: u32,
    rel: &Path,
) -> Result<OwnedFd> {
    sys::links::bpf_link_create(
        prog,
        cgroup.as_raw_fd() as u32,
        attach_type,
        0,
        LinkExtra::None,
    )
    .map_err(|e| {
        Error::sys(
            format!(
                "Cannot attach to cgroup {} as \"{}\"",
                q(rel),
                name_of(attach_type).unwrap_or("?")
            ),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_types_come_from_the_section_the_type_or_the_caller() {
        let r = |t, s, g| resolve("p", t, s, g);
        assert_eq!(
            r("cgroup_skb", Some("cgroup_skb/egress"), None).unwrap(),
            "egress"
        );
        assert_eq!(r("cgroup_sysctl", None, None).unwrap(), "sysctl");
        assert_eq!(
            r("cgroup_device", Some("cgroup/dev"), None).unwrap(),
            "device"
        );
        assert_eq!(r("sock_ops", Some("sockops"), None).unwrap(), "sock_ops");
        assert_eq!(
            r("cgroup_sock", Some("cgroup/sock"), None).unwrap(),
            "sock_create"
        );
        assert_eq!(
            r("cgroup_sock_addr", Some("cgroup/connect6"), None).unwrap(),
            "connect6"
        );
        assert_eq!(r("cgroup_skb", None, Some("ingress")).unwrap(), "ingress");
        let e = r("cgroup_skb", Some("cgroup/skb"), None).unwrap_err();
        assert_eq!(
            e.message,
            "Cannot tell where p attaches: a cgroup_skb program takes \"ingress\" or \"egress\""
        );
        let e = r("cgroup_skb", None, Some("sysctl")).unwrap_err();
        assert_eq!(e.kind, Kind::WrongKind);
        assert_eq!(
            e.message,
            "Cannot attach p as \"sysctl\": its type is cgroup_skb, which takes \"ingress\" or \"egress\""
        );
        let e = r("kprobe", None, None).unwrap_err();
        assert_eq!(e.kind, Kind::WrongKind);
        assert!(e.message.contains("its type is kprobe"), "{}", e.message);
        assert!(r("cgroup_skb", None, Some("sideways")).is_err());
    }

    #[test]
    fn a_selection_takes_a_depth_and_a_name() {
        let all = Selection::default();
        assert!(all.selects(Path::new("")) && all.selects(Path::new("a/b")));
        let d1 = Selection {
            depth: Some(1),
            glob: None,
        };
        assert!(d1.selects(Path::new("a")));
        assert!(!d1.selects(Path::new("")) && !d1.selects(Path::new("a/b")));
        let m = Selection {
            depth: None,
            glob: Some("web-*".into()),
        };
        assert!(m.selects(Path::new("web-1")) && m.selects(Path::new("x/web-2")));
        assert!(!m.selects(Path::new("db")) && !m.selects(Path::new("")));
        assert_eq!(name_of(1), Some("egress"));
        assert_eq!(value("sysctl").unwrap(), 18);
    }
}
