//! `bpfx doctor`: what this host offers bpfx, each failed check with what to
//! do about it. Probes are real: they load and attach tiny programs.

use crate::error::{
    Error, Kind, REFUSED_BEFORE_VERIFICATION, Result, describe_errno, q,
    refused_before_verification,
};
use crate::fs::mounts::{self, DEFAULT_BPFFS};
use crate::kernel::btf::{RawBtf, VMLINUX};
use crate::kernel::privileged::{CAP_BPF, CAP_SYS_ADMIN, capabilities, privileged};
use crate::sys::{self, IterParams};
use serde::Serialize;
use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;

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

const INSNS_RETURN_0: [u64; 2] = [0xb7, 0x95]; // r0 = 0; exit
const PROG_TYPE_TRACING: u32 = 26;
const PROG_TYPE_LSM: u32 = 29;
const ATTACH_TRACE_FENTRY: u32 = 24;
const ATTACH_TRACE_FEXIT: u32 = 25;
const ATTACH_MODIFY_RETURN: u32 = 26;
const ATTACH_LSM_MAC: u32 = 27;
const ATTACH_TRACE_ITER: u32 = 28;

/// Why a probe's program did not load.
#[derive(Debug, Clone)]
struct LoadFailure {
    detail: String,
    /// Refused with EPERM before any instruction was verified.
    refused: bool,
}

/// Loads `r0 = 0; exit` as a program of `prog_type` attached (by
/// `expected_attach_type`) to the vmlinux BTF function `btf_id`, with a
/// verifier log, so that a refusal before verification can be told from
/// the verifier's. `noun` names what is loaded ("map-element iterators").
fn probe_load(
    prog_type: u32,
    expected_attach_type: u32,
    btf_id: u32,
    noun: &str,
) -> std::result::Result<std::os::fd::OwnedFd, LoadFailure> {
    let license = CString::new("GPL").expect("no NUL");
    let mut log = vec![0u8; 16 * 1024];
    let r = sys::bpf_prog_load(&mut sys::ProgLoad {
        prog_type,
        insns: &INSNS_RETURN_0,
        license: &license,
        expected_attach_type,
        attach_btf_id: btf_id,
        log: &mut log,
    });
    r.map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        let errno = e.errno();
        // Without privileges every load is refused with EPERM up front:
        // that is not a policy about this kind of program.
        if privileged() && refused_before_verification(errno, &text) {
            LoadFailure {
                detail: format!(
                    "the kernel refuses {noun}: EPERM at load, before verification (a security policy, not the verifier)"
                ),
                refused: true,
            }
        } else {
            let said = text
                .lines()
                .rfind(|l| !l.trim().is_empty() && !l.starts_with("processed "))
                .map(|l| format!(" (the verifier: {})", l.trim()))
                .unwrap_or_default();
            LoadFailure {
                detail: format!("loading failed: {}{said}", describe_errno(errno)),
                refused: false,
            }
        }
    })
}

/// What doctor calls the programs of an iterator target, in a sentence.
fn iter_noun(target: &str) -> String {
    match target {
        "bpf_map_elem" => "map-element iterators".into(),
        t => format!("{t} iterators"),
    }
}

/// Loads an empty iterator program for `target` and makes a link with the
/// parameters that target takes. Returns (loads, link made) or the failure.
fn probe_iter(
    btf: &RawBtf,
    target: &str,
    cgroup2: Option<&str>,
) -> (
    std::result::Result<(), LoadFailure>,
    std::result::Result<(), String>,
) {
    let Some(id) = btf.func_id(&format!("bpf_iter_{target}")) else {
        return (
            Err(LoadFailure {
                detail: format!("the kernel has no \"{target}\" iterator"),
                refused: false,
            }),
            Err("no target".into()),
        );
    };
    let prog = match probe_load(PROG_TYPE_TRACING, ATTACH_TRACE_ITER, id, &iter_noun(target)) {
        Ok(fd) => fd,
        Err(f) => {
            let m = f.detail.clone();
            return (Err(f), Err(m));
        }
    };
    let link = match target {
        "task" => sys::bpf_link_create_iter(
            prog.as_fd(),
            IterParams::Task {
                tid: 0,
                pid: std::process::id(),
                pid_fd: 0,
            },
        )
        .map(drop)
        .map_err(|e| format!("a link with a pid failed: {}", describe_errno(e.errno()))),
        "cgroup" => match cgroup2.map(std::fs::File::open) {
            Some(Ok(f)) => {
                use std::os::fd::AsRawFd;
                sys::bpf_link_create_iter(
                    prog.as_fd(),
                    IterParams::Cgroup {
                        order: 1,
                        cgroup_fd: f.as_raw_fd(),
                        cgroup_id: 0,
                    },
                )
                .map(drop)
                .map_err(|e| format!("a link with a cgroup failed: {}", describe_errno(e.errno())))
            }
            _ => Err("no cgroup2 mount to probe with".into()),
        },
        "bpf_map_elem" => match sys::bpf_map_create(1, 4, 8, 1) {
            Ok(map) => {
                use std::os::fd::AsRawFd;
                sys::bpf_link_create_iter(
                    prog.as_fd(),
                    IterParams::Map {
                        map_fd: map.as_raw_fd(),
                    },
                )
                .map(drop)
                .map_err(|e| format!("a link with a map failed: {}", describe_errno(e.errno())))
            }
            Err(e) => Err(format!(
                "creating a map failed: {}",
                describe_errno(e.errno())
            )),
        },
        _ => Ok(()),
    };
    (Ok(()), link)
}

/// A trampoline program kind doctor probes: its name in the check, how it
/// loads, and the kernel functions it may attach to (the first found in
/// vmlinux BTF is used; each is one the kernel lets that kind attach to).
struct Trampoline {
    kind: &'static str,
    noun: &'static str,
    prog_type: u32,
    attach_type: u32,
    targets: &'static [&'static str],
}

const TRAMPOLINES: [Trampoline; 4] = [
    Trampoline {
        kind: "fentry",
        noun: "fentry programs",
        prog_type: PROG_TYPE_TRACING,
        attach_type: ATTACH_TRACE_FENTRY,
        targets: &["bpf_fentry_test1", "bpf_fentry_test2"],
    },
    Trampoline {
        kind: "fexit",
        noun: "fexit programs",
        prog_type: PROG_TYPE_TRACING,
        attach_type: ATTACH_TRACE_FEXIT,
        targets: &["bpf_fentry_test1", "bpf_fentry_test2"],
    },
    // fmod_ret may only attach to functions the kernel lists for it (error
    // injection, or the test set bpf_modify_return_test belongs to).
    Trampoline {
        kind: "fmod_ret",
        noun: "fmod_ret programs",
        prog_type: PROG_TYPE_TRACING,
        attach_type: ATTACH_MODIFY_RETURN,
        targets: &["bpf_modify_return_test"],
    },
    Trampoline {
        kind: "lsm",
        noun: "LSM programs",
        prog_type: PROG_TYPE_LSM,
        attach_type: ATTACH_LSM_MAC,
        targets: &["bpf_lsm_file_open", "bpf_lsm_bpf"],
    },
];

/// Loads (does not attach) an empty program of trampoline kind `t`.
fn probe_trampoline(btf: &RawBtf, t: &Trampoline) -> std::result::Result<String, LoadFailure> {
    let Some((target, id)) = t
        .targets
        .iter()
        .find_map(|n| btf.func_id(n).map(|id| (*n, id)))
    else {
        return Err(LoadFailure {
            detail: format!(
                "not probed: the kernel's BTF has none of {} to attach to",
                t.targets.join(", ")
            ),
            refused: false,
        });
    };
    probe_load(t.prog_type, t.attach_type, id, t.noun)
        .map(|_| format!("a program for {target} loads (not attached)"))
}

/// The check of a probe that loads a program: ok, or its failure with the
/// fix for a policy refusal or for a missing feature.
fn load_check(
    name: &str,
    loads: std::result::Result<String, LoadFailure>,
    noun: &str,
    missing_fix: &str,
) -> Check {
    match loads {
        Ok(detail) => check(name, true, detail, None),
        Err(f) if f.refused => Check {
            refused: Some(REFUSED_BEFORE_VERIFICATION),
            ..check(
                name,
                false,
                f.detail,
                Some(&format!(
                    "none in bpfx: allow {noun} in the kernel's security policy, or do without them on this machine"
                )),
            )
        },
        Err(f) => check(name, false, f.detail, Some(missing_fix)),
    }
}

const FAN_REPORT_DFID_NAME: u32 = 0x400 | 0x800;
const FAN_CLOEXEC: u32 = 0x1;
const FAN_MARK_ADD: u32 = 0x1;
const FAN_MARK_FILESYSTEM: u32 = 0x100;
const FAN_DIR_EVENTS: u64 = 0x100 | 0x200 | 0x4000_0000; // create, delete, ondir

fn probe_fanotify(path: &str, filesystem: bool) -> std::result::Result<(), String> {
    let fd = sys::fanotify_init(FAN_REPORT_DFID_NAME | FAN_CLOEXEC, libc::O_RDONLY as u32)
        .map_err(|e| format!("fanotify_init: {}", describe_errno(e.errno())))?;
    let flags = FAN_MARK_ADD | if filesystem { FAN_MARK_FILESYSTEM } else { 0 };
    sys::fanotify_mark(fd.as_fd(), flags, FAN_DIR_EVENTS, Path::new(path))
        .map_err(|e| describe_errno(e.errno()))
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

/// A multi link (`attach_type` 42 kprobe_multi or 48 uprobe_multi) of no
/// functions from a plain kprobe program: `Ok` when the kernel refuses it
/// as invalid (it has the link type), else the errno.
fn probe_multi(attach_type: u32) -> std::result::Result<(), i32> {
    const PROG_TYPE_KPROBE: u32 = 2;
    let license = CString::new("GPL").expect("no NUL");
    let prog = sys::bpf_prog_load(&mut sys::ProgLoad {
        prog_type: PROG_TYPE_KPROBE,
        insns: &INSNS_RETURN_0,
        license: &license,
        expected_attach_type: 0,
        attach_btf_id: 0,
        log: &mut [],
    })
    .map_err(|e| e.errno())?;
    match sys::links::bpf_link_create(prog.as_fd(), 0, attach_type, 0, sys::links::LinkExtra::None)
    {
        Ok(_) => Ok(()), // not expected with no functions, but it is there
        Err(e) if e.errno() == libc::EINVAL => Ok(()),
        Err(e) => Err(e.errno()),
    }
}

/// A cgroup link of a cgroup_skb egress program made on `/`, which is no
/// cgroup: `Ok` when the kernel refuses the target (EBADF), having taken
/// the link type; else the errno. Nothing is attached anywhere.
fn probe_cgroup_link() -> std::result::Result<(), i32> {
    const PROG_TYPE_CGROUP_SKB: u32 = 8;
    const CGROUP_INET_EGRESS: u32 = 1;
    const INSNS_RETURN_1: [u64; 2] = [0x1_0000_00b7, 0x95]; // r0 = 1; exit
    let license = CString::new("GPL").expect("no NUL");
    let prog = sys::bpf_prog_load(&mut sys::ProgLoad {
        prog_type: PROG_TYPE_CGROUP_SKB,
        insns: &INSNS_RETURN_1,
        license: &license,
        expected_attach_type: CGROUP_INET_EGRESS,
        attach_btf_id: 0,
        log: &mut [],
    })
    .map_err(|e| e.errno())?;
    let not_cgroup = crate::fs::paths::Dir::open(Path::new("/")).map_err(|e| e.errno())?;
    match sys::links::bpf_link_create(
        prog.as_fd(),
        std::os::fd::AsRawFd::as_raw_fd(&not_cgroup.fd()) as u32,
        CGROUP_INET_EGRESS,
        0,
        sys::links::LinkExtra::None,
    ) {
        Ok(_) => Ok(()), // not expected of `/`, and closed at once
        Err(e) if e.errno() == libc::EBADF => Ok(()),
        Err(e) => Err(e.errno()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_failing_with(errno: i32) -> LoadFailure {
        let _g = sys::fake::install(move |c| match c {
            sys::Call::Bpf {
                cmd: sys::BpfCmd::ProgLoad,
                ..
            } => sys::fake::errno(errno),
            _ => None,
        });
        probe_load(PROG_TYPE_TRACING, ATTACH_TRACE_FENTRY, 1, "fentry programs").unwrap_err()
    }

    #[test]
    fn a_probe_tells_a_policy_refusal_from_a_verifier_failure() {
        // EPERM with an empty log: refused before verification (with the
        // privileges to load at all; without them EPERM says only that).
        let f = load_failing_with(libc::EPERM);
        assert_eq!(f.refused, privileged());
        if privileged() {
            assert_eq!(
                f.detail,
                "the kernel refuses fentry programs: EPERM at load, before verification (a security policy, not the verifier)"
            );
        }
        let f = load_failing_with(libc::EINVAL);
        assert!(!f.refused);
        assert_eq!(f.detail, "loading failed: invalid argument");
    }

    #[test]
    fn a_refused_load_check_says_so_in_its_json() {
        let refused = load_check(
            "trampoline lsm",
            Err(LoadFailure {
                detail: "the kernel refuses LSM programs: ...".into(),
                refused: true,
            }),
            "LSM programs",
            "use a kernel with BPF trampolines",
        );
        let v = serde_json::to_value(&refused).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["refused"], "eperm-before-verification");
        assert!(
            !v["fix"].as_str().unwrap().contains("use a kernel"),
            "a policy refusal is not fixed by a newer kernel: {v}"
        );
        let missing = load_check(
            "trampoline lsm",
            Err(LoadFailure {
                detail: "loading failed: invalid argument".into(),
                refused: false,
            }),
            "LSM programs",
            "use a kernel with BPF trampolines",
        );
        let v = serde_json::to_value(&missing).unwrap();
        assert_eq!(v["refused"], serde_json::Value::Null);
        assert_eq!(v["fix"], "use a kernel with BPF trampolines");
        let ok = load_check("x", Ok("loads".into()), "x", "y");
        assert!(ok.ok && ok.refused.is_none() && ok.fix.is_none());
    }
}
