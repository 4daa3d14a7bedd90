//! The parameters of a view: what a caller may give, checked against what
//! the iterator's target takes, and made into the link's parameters.

use crate::error::{Error, Kind, Result};
use crate::fs::cgroups;
use crate::kernel::info::ObjKind;
use crate::{kernel::pins, sys};
use serde::Deserialize;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The parameters a caller may give; which are allowed depends on the target.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewParams {
    pub pid: Option<u32>,
    pub tid: Option<u32>,
    /// A cgroup path (absolute, or relative to the cgroup2 mount) or id.
    pub cgroup: Option<String>,
    pub order: Option<String>,
    /// The pin of a map.
    pub map: Option<PathBuf>,
}

const ORDERS: [(&str, u32); 4] = [
    ("self", 1),
    ("descendants-pre", 2),
    ("descendants-post", 3),
    ("ancestors-up", 4),
];

/// Parses a cgroup iterator order.
pub fn order(name: &str) -> Result<u32> {
    ORDERS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).ok_or_else(|| {
        Error::invalid("order", format!("Unknown cgroup order \"{name}\": use self, descendants-pre, descendants-post or ancestors-up"))
    })
}

/// What a target takes: the parameter names it accepts and the one it needs.
fn accepts(target: &str) -> (&'static [&'static str], Option<&'static str>) {
    match target {
        "task" | "task_file" | "task_vma" => (&["pid", "tid"], None),
        "cgroup" => (&["cgroup", "order"], Some("cgroup")),
        "bpf_map_elem" | "bpf_sk_storage_map" | "sockmap" => (&["map"], Some("map")),
        _ => (&[], None),
    }
}

/// The parameters for the link, checked against `target`. The returned fds
/// must stay open until the link is made.
pub fn link_params(target: &str, p: &ViewParams) -> Result<(sys::IterParams, Vec<OwnedFd>)> {
    let given: Vec<&str> = [
        ("pid", p.pid.is_some()),
        ("tid", p.tid.is_some()),
        ("cgroup", p.cgroup.is_some()),
        ("order", p.order.is_some()),
        ("map", p.map.is_some()),
    ]
    .iter()
    .filter(|(_, g)| *g)
    .map(|(n, _)| *n)
    .collect();
    let (ok, needed) = accepts(target);
    for g in &given {
        if !ok.contains(g) {
            let takes = if ok.is_empty() {
                "no parameters".to_string()
            } else {
                let names: Vec<String> = ok.iter().map(|n| format!("\"{n}\"")).collect();
                format!("only {}", names.join(", "))
            };
            return Err(Error::invalid(
                "params",
                format!(
                    "A \"{target}\" iterator does not take a \"{g}\" parameter: it takes {takes}"
                ),
            ));
        }
    }
    if let Some(n) = needed
        && !given.contains(&n)
    {
        return Err(Error::invalid(
            "params",
            format!("A \"{target}\" iterator needs a \"{n}\" parameter"),
        ));
    }
    if p.pid.is_some() && p.tid.is_some() {
        return Err(Error::invalid("params", "Give a pid or a tid, not both"));
    }
    let mut keep = Vec::new();
    let params = match target {
        "task" | "task_file" | "task_vma" => match (p.pid, p.tid) {
            (Some(pid), _) => {
                require_task("pid", pid)?;
                sys::IterParams::Task {
                    tid: 0,
                    pid,
                    pid_fd: 0,
                }
            }
            (_, Some(tid)) => {
                require_task("tid", tid)?;
                sys::IterParams::Task {
                    tid,
                    pid: 0,
                    pid_fd: 0,
                }
            }
            _ => sys::IterParams::None,
        },
        "cgroup" => {
            let cg = cgroups::resolve(p.cgroup.as_deref().expect("checked above"))?;
            let order = order(p.order.as_deref().unwrap_or("self"))?;
            sys::IterParams::Cgroup {
                order,
                cgroup_fd: 0,
                cgroup_id: cg.id,
            }
        }
        "bpf_map_elem" | "bpf_sk_storage_map" | "sockmap" => {
            let path = p.map.as_deref().expect("checked above");
            let (fd, _) = pins::open(path, Some(ObjKind::Map))?;
            let map_fd = fd.as_raw_fd();
            keep.push(fd);
            sys::IterParams::Map { map_fd }
        }
        _ => sys::IterParams::None,
    };
    Ok((params, keep))
}

/// Refuses a pid or tid with no task: the kernel would keep the number and
/// read nothing from it.
fn require_task(what: &str, n: u32) -> Result<()> {
    if n == 0 || !Path::new(&format!("/proc/{n}")).exists() {
        return Err(Error::new(
            Kind::NotFound,
            "params",
            format!("No task has {what} {n}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked_against_the_target() {
        let p = ViewParams {
            cgroup: Some("1".into()),
            ..Default::default()
        };
        let e = link_params("task", &p).err().unwrap();
        assert_eq!(
            e.message,
            "A \"task\" iterator does not take a \"cgroup\" parameter: it takes only \"pid\", \"tid\""
        );
        let e = link_params("cgroup", &ViewParams::default()).err().unwrap();
        assert_eq!(
            e.message,
            "A \"cgroup\" iterator needs a \"cgroup\" parameter"
        );
        let e = link_params(
            "bpf_map",
            &ViewParams {
                pid: Some(1),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
        assert_eq!(
            e.message,
            "A \"bpf_map\" iterator does not take a \"pid\" parameter: it takes no parameters"
        );
        let (params, _) = link_params(
            "task",
            &ViewParams {
                pid: Some(std::process::id()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            params,
            sys::IterParams::Task {
                tid: 0,
                pid: std::process::id(),
                pid_fd: 0
            }
        );
        let e = link_params(
            "task",
            &ViewParams {
                pid: Some(0x3fff_ffff),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
        assert_eq!(e.kind, Kind::NotFound);
        assert_eq!(e.message, "No task has pid 1073741823");
        let (params, _) = link_params(
            "cgroup",
            &ViewParams {
                cgroup: Some("42".into()),
                order: Some("descendants-pre".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            params,
            sys::IterParams::Cgroup {
                order: 2,
                cgroup_fd: 0,
                cgroup_id: 42
            }
        );
        assert!(order("sideways").is_err());
    }
}
