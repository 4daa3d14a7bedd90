//! Views: iterator links made with the parameters their target takes,
//! pinned in bpffs, so that reading the pin runs the program.
//!
//! The kernel reads `union bpf_iter_link_info` by the program's target and
//! refuses nothing that is merely meant for another target, so every
//! parameter is checked here against the target named by the program's
//! `attach_btf_id` (`bpf_iter_<target>`).

use crate::btf::RawBtf;
use crate::cgroups;
use crate::error::{Error, Kind, Result, q};
use crate::info::{self, Detail, ObjKind, ObjectInfo};
use crate::mounts;
use crate::{object, pins, sys};
use aya::programs::Program;
use aya::{Ebpf, EbpfLoader};
use serde::Deserialize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
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

/// A program to make views from, kept loaded while links are made.
pub enum IterProg {
    Pinned { fd: OwnedFd, name: String },
    Loaded { ebpf: Box<Ebpf>, name: String },
}

impl IterProg {
    pub fn fd(&self) -> Result<BorrowedFd<'_>> {
        match self {
            IterProg::Pinned { fd, .. } => Ok(fd.as_fd()),
            IterProg::Loaded { ebpf, name } => match ebpf.program(name) {
                Some(Program::Iter(p)) => p
                    .fd()
                    .map(|fd| fd.as_fd())
                    .map_err(|e| Error::internal(format!("program \"{name}\" has no fd: {e}"))),
                _ => Err(Error::internal(format!("program \"{name}\" is not loaded"))),
            },
        }
    }
}

/// The iterator target of a loaded program (`task`, `cgroup`, ...), and
/// the program's name.
pub fn target_of(fd: BorrowedFd<'_>, what: &str) -> Result<(String, String)> {
    let info = info::info_of_kind(fd, ObjKind::Prog)?;
    let Detail::Prog(p) = &info.detail else {
        unreachable!("a program has program info")
    };
    let not_iter = || {
        Error::new(
            Kind::WrongKind,
            "BPF_OBJ_GET_INFO_BY_FD",
            format!(
                "{what} is not an iterator program (its type is {})",
                info.type_name
            ),
        )
        .with_hint("a view needs a program from a SEC(\"iter/...\") section")
    };
    if info.type_name != "tracing" || p.attach_btf_id == 0 {
        return Err(not_iter());
    }
    let btf = RawBtf::kernel()?;
    match btf
        .name_of(p.attach_btf_id)
        .and_then(|n| n.strip_prefix("bpf_iter_"))
    {
        Some(t) => Ok((t.to_string(), info.name.clone())),
        None => Err(not_iter()),
    }
}

/// Opens the program `spec` names: a pinned program, or `OBJ:NAME`, an
/// iterator program in an object file, loaded now.
pub fn open_prog(spec: &str, pin_by_name_root: Option<&Path>) -> Result<(IterProg, String)> {
    let as_path = Path::new(spec);
    if as_path.exists() || !spec.contains(':') {
        let (fd, _) = pins::open(as_path, Some(ObjKind::Prog))?;
        let (target, name) =
            target_of(fd.as_fd(), &format!("The program pinned at {}", q(as_path)))?;
        return Ok((IterProg::Pinned { fd, name }, target));
    }
    let (obj, name) = spec.rsplit_once(':').expect("contains ':'");
    let parsed = crate::externs::link_object(Path::new(obj), object::parse_file(Path::new(obj))?)?;
    let prog = parsed
        .spec
        .programs
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = parsed
                .spec
                .programs
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            Error::new(
                Kind::NotFound,
                "lookup",
                format!(
                    "Object \"{obj}\" has no program \"{name}\" (it has: {})",
                    names.join(", ")
                ),
            )
        })?;
    let Some(target) = prog
        .section
        .strip_prefix("iter/")
        .or_else(|| prog.section.strip_prefix("iter.s/"))
    else {
        return Err(Error::new(
            Kind::WrongKind,
            "lookup",
            format!(
                "Program \"{name}\" of \"{obj}\" is not an iterator program (section \"{}\")",
                prog.section
            ),
        )
        .with_hint("a view needs a program from a SEC(\"iter/...\") section"));
    };
    let target = target.to_string();
    let prefetch = std::thread::spawn(crate::load::kernel_btf);
    let loader = EbpfLoader::new();
    let btf = prefetch.join().ok().flatten().ok_or_else(|| {
        Error::new(
            Kind::NotSupported,
            "load",
            "Cannot read the kernel's BTF at /sys/kernel/btf/vmlinux",
        )
    })?;
    let root = pin_by_name_root.unwrap_or(Path::new(mounts::DEFAULT_BPFFS));
    let mut loader = loader;
    let mut ebpf = loader
        .btf(Some(btf))
        .default_map_pin_directory(root)
        .load(&parsed.data)
        .map_err(|e| crate::load::aya_error(format!("Cannot load {}", q(Path::new(obj))), &e))?;
    match ebpf.program_mut(name) {
        Some(Program::Iter(p)) => p
            .load(&target, btf)
            .map_err(|e| crate::load::aya_error(format!("Cannot load program \"{name}\""), &e))
            .map_err(|e| crate::externs::explain(e, &parsed.data))?,
        _ => {
            return Err(Error::internal(format!(
                "program \"{name}\" is not an iterator in aya's view"
            )));
        }
    }
    Ok((
        IterProg::Loaded {
            ebpf: Box::new(ebpf),
            name: name.to_string(),
        },
        target,
    ))
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

/// Checks that `pin` can be made: its directory is on bpffs, its name has
/// no `.`, and nothing is there yet.
pub fn check_pin_path(pin: &Path) -> Result<()> {
    let parent = pin
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    mounts::require_bpffs_dir(parent, "pin the view")?;
    let name = pin.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.is_empty() || name.contains('.') {
        return Err(Error::invalid(
            "BPF_OBJ_PIN",
            format!(
                "Cannot pin the view at {}: bpffs refuses '.' in names",
                q(pin)
            ),
        )
        .with_path(pin)
        .with_hint("choose a name without '.'"));
    }
    if std::fs::symlink_metadata(pin).is_ok() {
        return Err(Error::new(
            Kind::Exists,
            "BPF_OBJ_PIN",
            format!(
                "Cannot pin the view at {}: the name is already in use",
                q(pin)
            ),
        )
        .with_path(pin)
        .with_hint(format!(
            "unpin it first (`bpfx unpin {}`) or choose another name",
            pin.display()
        )));
    }
    Ok(())
}

/// Makes an iterator link of `prog` with `params`.
pub fn make_link(prog: BorrowedFd<'_>, target: &str, params: sys::IterParams) -> Result<OwnedFd> {
    sys::bpf_link_create_iter(prog, params).map_err(|e| {
        let err = Error::sys(format!("Cannot make a \"{target}\" iterator link"), e);
        match (err.errno, params) {
            (libc::ENOENT, sys::IterParams::Cgroup { cgroup_id, .. }) => err.with_message(format!(
                "Cannot make a \"{target}\" iterator link: no cgroup has id {cgroup_id} (was it removed?)"
            )),
            _ => err,
        }
    })
}

/// Pins `link` at `pin`.
pub fn pin_link(link: BorrowedFd<'_>, pin: &Path) -> Result<()> {
    sys::bpf_obj_pin(link, pin).map_err(|e| {
        let err = Error::sys(format!("Cannot pin the view at {}", q(pin)), e).with_path(pin);
        if err.kind == Kind::Exists {
            err.with_hint("unpin it first, or choose another name")
        } else {
            err
        }
    })
}

/// Makes one view: an iterator link of `prog` with `params`, pinned at `pin`.
/// Nothing is pinned unless every check passes.
pub fn create(
    prog: &str,
    pin: &Path,
    params: &ViewParams,
    pin_by_name_root: Option<&Path>,
) -> Result<ObjectInfo> {
    let pin = mounts::absolute(pin);
    check_pin_path(&pin)?;
    let (prog, target) = open_prog(prog, pin_by_name_root)?;
    let (params, _keep) = link_params(&target, params)?;
    let link = make_link(prog.fd()?, &target, params)?;
    pin_link(link.as_fd(), &pin)?;
    let mut i = info::info_of_kind(link.as_fd(), ObjKind::Link)?;
    i.path = Some(pin.display().to_string());
    Ok(i)
}

/// Opens a view (or any readable file) for reading through the data lane.
pub fn open_reader(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path)
        .map_err(|e| Error::io(format!("Cannot open view {}", q(path)), "open", &e).with_path(path))
}

/// The message for a failed read of a view.
pub fn read_error(path: Option<&Path>, errno: i32) -> Error {
    let what = match path {
        Some(p) => format!("Cannot read view {}", q(p)),
        None => "Cannot read the view".to_string(),
    };
    let mut e = Error::from_errno(what, "read", errno);
    if errno == libc::E2BIG {
        e.message = format!(
            "{}: the program's output for one object is larger than the iterator's buffer (8 pages)",
            e.message.split(':').next().unwrap_or("")
        );
        e.hint = Some("print less per object in the program".into());
    }
    e
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

    #[test]
    fn a_vanished_cgroup_is_named_in_the_error() {
        let _g = sys::fake::install(|c| match c {
            sys::Call::Bpf {
                cmd: sys::BpfCmd::LinkCreate,
                ..
            } => sys::fake::errno(libc::ENOENT),
            _ => None,
        });
        let f = std::fs::File::open("/dev/null").unwrap();
        let e = make_link(
            f.as_fd(),
            "cgroup",
            sys::IterParams::Cgroup {
                order: 1,
                cgroup_fd: 0,
                cgroup_id: 99,
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert_eq!(e.op, "BPF_LINK_CREATE");
        assert!(e.message.contains("no cgroup has id 99"), "{}", e.message);
    }
}
