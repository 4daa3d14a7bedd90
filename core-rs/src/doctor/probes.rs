//! The probes behind doctor's checks: each loads (or attaches) a tiny
//! program, or marks a directory with fanotify, and says what the kernel
//! answered, telling a security policy's refusal from a missing feature.

use super::{Check, check};
use crate::error::{REFUSED_BEFORE_VERIFICATION, describe_errno, refused_before_verification};
use crate::kernel::btf::RawBtf;
use crate::kernel::privileged::privileged;
use crate::sys::{self, IterParams};
use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;

pub(super) const INSNS_RETURN_0: [u64; 2] = [0xb7, 0x95]; // r0 = 0; exit
pub(super) const PROG_TYPE_TRACING: u32 = 26;
pub(super) const PROG_TYPE_LSM: u32 = 29;
pub(super) const ATTACH_TRACE_FENTRY: u32 = 24;
pub(super) const ATTACH_TRACE_FEXIT: u32 = 25;
pub(super) const ATTACH_MODIFY_RETURN: u32 = 26;
pub(super) const ATTACH_LSM_MAC: u32 = 27;
pub(super) const ATTACH_TRACE_ITER: u32 = 28;

/// Why a probe's program did not load.
#[derive(Debug, Clone)]
pub(super) struct LoadFailure {
    pub(super) detail: String,
    /// Refused with EPERM before any instruction was verified.
    pub(super) refused: bool,
}

/// Loads `r0 = 0; exit` as a program of `prog_type` attached (by
/// `expected_attach_type`) to the vmlinux BTF function `btf_id`, with a
/// verifier log, so that a refusal before verification can be told from
/// the verifier's. `noun` names what is loaded ("map-element iterators").
pub(super) fn probe_load(
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
pub(super) fn iter_noun(target: &str) -> String {
    match target {
        "bpf_map_elem" => "map-element iterators".into(),
        t => format!("{t} iterators"),
    }
}

/// Loads an empty iterator program for `target` and makes a link with the
/// parameters that target takes. Returns (loads, link made) or the failure.
pub(super) fn probe_iter(
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
pub(super) struct Trampoline {
    pub(super) kind: &'static str,
    pub(super) noun: &'static str,
    pub(super) prog_type: u32,
    pub(super) attach_type: u32,
    pub(super) targets: &'static [&'static str],
}

pub(super) const TRAMPOLINES: [Trampoline; 4] = [
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
pub(super) fn probe_trampoline(
    btf: &RawBtf,
    t: &Trampoline,
) -> std::result::Result<String, LoadFailure> {
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

pub(super) const FAN_REPORT_DFID_NAME: u32 = 0x400 | 0x800;
pub(super) const FAN_CLOEXEC: u32 = 0x1;
pub(super) const FAN_MARK_ADD: u32 = 0x1;
pub(super) const FAN_MARK_FILESYSTEM: u32 = 0x100;
pub(super) const FAN_DIR_EVENTS: u64 = 0x100 | 0x200 | 0x4000_0000; // create, delete, ondir

pub(super) fn probe_fanotify(path: &str, filesystem: bool) -> std::result::Result<(), String> {
    let fd = sys::fanotify_init(FAN_REPORT_DFID_NAME | FAN_CLOEXEC, libc::O_RDONLY as u32)
        .map_err(|e| format!("fanotify_init: {}", describe_errno(e.errno())))?;
    let flags = FAN_MARK_ADD | if filesystem { FAN_MARK_FILESYSTEM } else { 0 };
    sys::fanotify_mark(fd.as_fd(), flags, FAN_DIR_EVENTS, Path::new(path))
        .map_err(|e| describe_errno(e.errno()))
}

/// A multi link (`attach_type` 42 kprobe_multi or 48 uprobe_multi) of no
/// functions from a plain kprobe program: `Ok` when the kernel refuses it
/// as invalid (it has the link type), else the errno.
pub(super) fn probe_multi(attach_type: u32) -> std::result::Result<(), i32> {
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
pub(super) fn probe_cgroup_link() -> std::result::Result<(), i32> {
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

/// The check of a probe that loads a program: ok, or its failure with the
/// fix for a policy refusal or for a missing feature.
pub(super) fn load_check(
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
