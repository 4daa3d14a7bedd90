//! `bpfx doctor`: what this host offers bpfx, each failed check with what to
//! do about it. Probes are real: they load and attach tiny programs
//! (`probes`).

use crate::error::{Error, Kind, Result, describe_errno, q};
use crate::fs::mounts::{self, DEFAULT_BPFFS};
use crate::kernel::btf::{RawBtf, VMLINUX};
use crate::kernel::privileged::{CAP_BPF, CAP_SYS_ADMIN, capabilities, privileged};
use crate::sys;
use serde::Serialize;
use std::path::Path;

mod probes;

use probes::{
    TRAMPOLINES, iter_noun, load_check, probe_cgroup_link, probe_fanotify, probe_iter, probe_multi,
    probe_trampoline,
};

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
    /// For a failed check, how the kernel refused it when that was a policy
    /// rather than a missing feature: [`REFUSED_BEFORE_VERIFICATION`] for a
    /// program load refused with EPERM before any instruction was verified.
    pub refused: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub ok: bool,
    pub kernel: String,
    pub checks: Vec<Check>,
    pub bpffs: Vec<String>,
    pub cgroup2: Option<String>,
    /// What `--fix` did.
    pub fixed: Vec<String>,
}

fn check(name: &str, ok: bool, detail: impl Into<String>, fix: Option<&str>) -> Check {
    Check {
        name: name.into(),
        ok,
        detail: detail.into(),
        fix: if ok { None } else { fix.map(String::from) },
        refused: None,
    }
}

/// Mounts bpffs at `path` (an existing directory).
pub fn mount_bpffs(path: &Path) -> Result<()> {
    if !path.is_dir() {
        return Err(Error::new(
            Kind::NotFound,
            "mount",
            format!("Cannot mount bpffs at {}: no such directory", q(path)),
        )
        .with_path(path));
    }
    sys::mount_fs("bpf", path, "mode=0700")
        .map_err(|e| Error::sys(format!("Cannot mount bpffs at {}", q(path)), e).with_path(path))
}

/// Unmounts the bpffs mounted at `path`; refuses any other filesystem.
pub fn umount_bpffs(path: &Path) -> Result<()> {
    if !mounts::mountpoints("bpf")?
        .iter()
        .any(|m| Path::new(m) == path)
    {
        return Err(Error::new(
            Kind::NotBpffs,
            "umount2",
            format!("Cannot unmount {}: no bpffs is mounted there", q(path)),
        )
        .with_path(path));
    }
    sys::umount(path, false)
        .map_err(|e| Error::sys(format!("Cannot unmount {}", q(path)), e).with_path(path))
}

/// Runs every check; with `fix`, mounts bpffs at /sys/fs/bpf when missing.
pub fn doctor(fix: bool) -> Result<DoctorReport> {
    let mut checks = Vec::new();
    let mut fixed = Vec::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    checks.push(check(
        "kernel",
        !kernel.is_empty(),
        format!("Linux {kernel}"),
        None,
    ));

    let (uid0, eff) = capabilities();
    let has = |c: u32| eff & (1 << c) != 0;
    let privileged = privileged();
    checks.push(check(
        "privileges",
        privileged,
        format!(
            "{}; CAP_BPF {}, CAP_SYS_ADMIN {}",
            if uid0 { "root" } else { "not root" },
            if has(CAP_BPF) { "yes" } else { "no" },
            if has(CAP_SYS_ADMIN) { "yes" } else { "no" }
        ),
        Some("run as root (sudo bpfx ...), or grant CAP_BPF and CAP_SYS_ADMIN"),
    ));

    let mut default_ok = mounts::is_bpffs(Path::new(DEFAULT_BPFFS));
    if !default_ok && fix {
        mount_bpffs(Path::new(DEFAULT_BPFFS))?;
        fixed.push(format!("mounted bpffs at {DEFAULT_BPFFS}"));
        default_ok = true;
    }
    let bpffs = mounts::mountpoints("bpf")?;
    checks.push(check(
        "bpffs",
        default_ok,
        if default_ok {
            format!(
                "mounted at {DEFAULT_BPFFS}{}",
                if bpffs.len() > 1 {
                    format!(" (and {} more)", bpffs.len() - 1)
                } else {
                    String::new()
                }
            )
        } else if bpffs.is_empty() {
            "not mounted".into()
        } else {
            format!("not at {DEFAULT_BPFFS}, but at {}", bpffs.join(", "))
        },
        Some("run `bpfx doctor --fix` to mount bpffs at /sys/fs/bpf"),
    ));

    let cgroup2 = mounts::cgroup2()?;
    checks.push(check(
        "cgroup2",
        cgroup2.is_some(),
        cgroup2
            .as_ref()
            .map_or("not mounted".into(), |m| format!("mounted at {m}")),
        Some("mount cgroup2 (mount -t cgroup2 none /sys/fs/cgroup/unified)"),
    ));

    let btf = RawBtf::vmlinux();
    checks.push(check(
        "btf",
        btf.is_ok(),
        match &btf {
            Ok(_) => format!("{VMLINUX} present"),
            Err(e) => e.message.clone(),
        },
        Some("use a kernel built with CONFIG_DEBUG_INFO_BTF=y"),
    ));

    if let Ok(btf) = &btf {
        for target in ["task", "cgroup", "bpf_map_elem"] {
            let (loads, link) = probe_iter(btf, target, cgroup2.as_deref());
            let fix = if privileged {
                "use a kernel with BPF iterators (5.8+; cgroup since 6.1)"
            } else {
                "run as root"
            };
            let name = format!("iterator {target}");
            let loaded = loads.is_ok();
            checks.push(load_check(
                &name,
                loads.map(|()| "an iterator program loads".into()),
                &iter_noun(target),
                fix,
            ));
            if loaded {
                checks.push(check(
                    &format!("{name} parameters"),
                    link.is_ok(),
                    link.map_or_else(|e| e, |()| "a link with parameters is made".into()),
                    Some(fix),
                ));
            }
        }
        for t in &TRAMPOLINES {
            checks.push(load_check(
                &format!("trampoline {}", t.kind),
                probe_trampoline(btf, t),
                t.noun,
                if privileged {
                    "use a kernel with BPF trampolines (5.5+; lsm since 5.7, with CONFIG_BPF_LSM=y)"
                } else {
                    "run as root"
                },
            ));
        }
        let links = btf.enum_members("bpf_link_type").unwrap_or_default();
        let names: Vec<String> = links
            .iter()
            .filter(|n| {
                !n.to_uppercase().contains("MAX_BPF_LINK_TYPE") && *n != "BPF_LINK_TYPE_UNSPEC"
            })
            .map(|n| n.trim_start_matches("BPF_LINK_TYPE_").to_lowercase())
            .collect();
        checks.push(check(
            "link types",
            names.iter().any(|n| n == "iter"),
            if names.is_empty() {
                "the kernel's BTF has no bpf_link_type".into()
            } else {
                names.join(", ")
            },
            Some("use a kernel with BPF links (5.7+)"),
        ));
    }

    checks.extend(link_checks(privileged));

    if let Some(b) = bpffs.first() {
        let inode = probe_fanotify(b, false);
        let fs = probe_fanotify(b, true);
        checks.push(check(
            "fanotify bpffs",
            inode.is_ok(),
            match (&inode, &fs) {
                (Ok(()), Ok(())) => "inode and filesystem marks work".to_string(),
                (Ok(()), Err(e)) => format!(
                    "inode marks work; filesystem marks refused ({e}), so bpfx marks each directory"
                ),
                (Err(e), _) => format!("inode marks refused: {e}"),
            },
            Some(if privileged {
                "use a kernel with fanotify FID reporting (5.9+)"
            } else {
                "run as root"
            }),
        ));
    }
    if bpffs.is_empty() {
        checks.push(check(
            "fanotify bpffs",
            false,
            "not probed: no bpffs is mounted",
            Some("run `bpfx doctor --fix` to mount bpffs, then check again"),
        ));
    }
    if let Some(cg) = &cgroup2 {
        let fs = probe_fanotify(cg, true);
        let inode = probe_fanotify(cg, false);
        checks.push(check(
            "fanotify cgroupfs",
            fs.is_ok() || inode.is_ok(),
            match (&fs, &inode) {
                (Ok(()), _) => "filesystem marks work".to_string(),
                (Err(e), Ok(())) => format!("inode marks work; filesystem marks refused ({e})"),
                (Err(e), Err(_)) => format!("marks refused: {e}"),
            },
            Some(if privileged {
                "use a kernel with fanotify FID reporting (5.9+)"
            } else {
                "run as root"
            }),
        ));
    }
    let entered = crate::expose::container::probe();
    checks.push(check(
        "mount namespaces",
        entered.is_ok(),
        match &entered {
            Ok(()) => {
                "a thread can enter a mount namespace by pidfd and take a read-only detached mount"
                    .to_string()
            }
            Err(e) => format!("refused: {}", e.message),
        },
        Some(if privileged {
            "use a kernel with pidfd setns and mount_setattr (5.12+)"
        } else {
            "run as root"
        }),
    ));
    Ok(DoctorReport {
        ok: checks.iter().all(|c| c.ok),
        kernel,
        checks,
        bpffs,
        cgroup2,
        fixed,
    })
}

/// What doctor says of a failed check that the kernel's build leaves out
/// (a `CONFIG_` option not set), rather than a policy or an old kernel.
pub const NOT_CONFIGURED: &str = "not-configured";

/// The link kinds that hang on a kernel option: kprobes and uprobes (their
/// perf PMUs), kprobe_multi and uprobe_multi (probed with a link of no
/// functions, which a kernel with them refuses as invalid and one without
/// as unsupported), and tracefs, where tracepoints and traceable functions
/// are named.
fn link_checks(privileged: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    let not_configured = |name: &str, detail: String, option: &str| Check {
        refused: Some(NOT_CONFIGURED),
        ..check(
            name,
            false,
            format!("{detail}: the kernel is built without {option}"),
            Some(&format!("use a kernel built with {option}=y")),
        )
    };
    for (pmu, option) in [
        ("kprobe", "CONFIG_KPROBES"),
        ("uprobe", "CONFIG_UPROBE_EVENTS"),
    ] {
        let dir = format!("/sys/bus/event_source/devices/{pmu}");
        let name = format!("link {pmu}");
        checks.push(if Path::new(&dir).join("type").exists() {
            check(&name, true, format!("perf PMU at {dir}"), None)
        } else {
            not_configured(&name, format!("no perf PMU at {dir}"), option)
        });
    }
    if privileged {
        for (name, attach_type, option) in [
            ("link kprobe_multi", 42, "CONFIG_FPROBE"),
            ("link uprobe_multi", 48, "CONFIG_UPROBES"),
        ] {
            checks.push(match probe_multi(attach_type) {
                Ok(()) => check(name, true, "the kernel makes such links", None),
                Err(libc::EOPNOTSUPP) => {
                    not_configured(name, "BPF_LINK_CREATE says not supported".into(), option)
                }
                Err(errno) => check(
                    name,
                    false,
                    format!("the probe failed: {}", describe_errno(errno)),
                    Some("use a kernel with multi links (kprobe_multi 5.18, uprobe_multi 6.7)"),
                ),
            });
        }
    }
    if privileged {
        checks.push(match probe_cgroup_link() {
            Ok(()) => check(
                "link cgroup",
                true,
                "the kernel makes cgroup program links",
                None,
            ),
            Err(errno) => check(
                "link cgroup",
                false,
                format!("the probe failed: {}", describe_errno(errno)),
                Some("use a kernel with cgroup links (5.7+)"),
            ),
        });
    }
    let tracefs = crate::attach::links::tracefs();
    checks.push(check(
        "tracefs",
        tracefs.is_some(),
        tracefs.map_or("not mounted".into(), |t| format!("mounted at {t}")),
        Some("mount it (mount -t tracefs tracefs /sys/kernel/tracing): tracepoint links name their tracepoint there"),
    ));
    checks
}
