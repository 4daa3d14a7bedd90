//! The kinds of link bpfx makes, and the kind a program makes to a target:
//! from the caller's attach type (checked against the program's type), or
//! from the program's type, its section and the target's shape.

use super::Opened;
use crate::error::{Error, Kind, Result};
use crate::object::spec;

/// The single-target links bpfx makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// `--to IFACE` (a name or an index).
    Xdp,
    /// `--to IFACE`.
    TcxIngress,
    TcxEgress,
    /// `--to IFACE` (a netkit device).
    NetkitPrimary,
    NetkitPeer,
    /// `--to [ipv4|ipv6:]HOOK`.
    Netfilter,
    /// `--to FUNC[+OFFSET]`.
    Kprobe {
        ret: bool,
    },
    /// `--to GLOB` or `--to F1,F2,...`.
    KprobeMulti {
        ret: bool,
    },
    /// `--to PATH:SYMBOL[+OFFSET]` or `PATH:0xOFFSET`.
    Uprobe {
        ret: bool,
    },
    /// `--to PATH:GLOB` or `PATH:S1,S2,...`.
    UprobeMulti {
        ret: bool,
    },
    /// `--to CATEGORY:NAME`.
    Tracepoint,
    /// `--to NAME`.
    RawTracepoint,
    /// `--to software:NAME` or `hardware:NAME`.
    PerfEvent,
    /// fentry, fexit, fmod_ret, lsm and tp_btf: `--to` names the target the
    /// program was loaded for.
    Tracing,
}

/// Each kind's name (as `attach_type` takes it) and the program type it needs.
const KINDS: &[(&str, LinkKind, &str)] = &[
    ("xdp", LinkKind::Xdp, "xdp"),
    ("tcx_ingress", LinkKind::TcxIngress, "sched_cls"),
    ("tcx_egress", LinkKind::TcxEgress, "sched_cls"),
    ("netkit_primary", LinkKind::NetkitPrimary, "sched_cls"),
    ("netkit_peer", LinkKind::NetkitPeer, "sched_cls"),
    ("netfilter", LinkKind::Netfilter, "netfilter"),
    ("kprobe", LinkKind::Kprobe { ret: false }, "kprobe"),
    ("kretprobe", LinkKind::Kprobe { ret: true }, "kprobe"),
    (
        "kprobe_multi",
        LinkKind::KprobeMulti { ret: false },
        "kprobe",
    ),
    (
        "kretprobe_multi",
        LinkKind::KprobeMulti { ret: true },
        "kprobe",
    ),
    ("uprobe", LinkKind::Uprobe { ret: false }, "kprobe"),
    ("uretprobe", LinkKind::Uprobe { ret: true }, "kprobe"),
    (
        "uprobe_multi",
        LinkKind::UprobeMulti { ret: false },
        "kprobe",
    ),
    (
        "uretprobe_multi",
        LinkKind::UprobeMulti { ret: true },
        "kprobe",
    ),
    ("tracepoint", LinkKind::Tracepoint, "tracepoint"),
    ("raw_tracepoint", LinkKind::RawTracepoint, "raw_tracepoint"),
    ("perf_event", LinkKind::PerfEvent, "perf_event"),
    ("tracing", LinkKind::Tracing, "tracing"),
];

impl LinkKind {
    pub fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k, _)| *k == self)
            .map(|(n, _, _)| *n)
            .expect("every kind is in KINDS")
    }

    fn parse(name: &str) -> Result<Self> {
        KINDS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, k, _)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = KINDS.iter().map(|(n, _, _)| *n).collect();
                Error::invalid(
                    "attach",
                    format!(
                        "Unknown attach type \"{name}\": use one of {}",
                        names.join(", ")
                    ),
                )
            })
    }

    /// Whether a program of `prog_type` can make this kind of link.
    fn takes(self, prog_type: &str) -> bool {
        let need = KINDS
            .iter()
            .find(|(_, k, _)| *k == self)
            .map(|(_, _, t)| *t)
            .expect("every kind is in KINDS");
        match self {
            LinkKind::RawTracepoint => {
                matches!(prog_type, "raw_tracepoint" | "raw_tracepoint_writable")
            }
            LinkKind::Tracing => matches!(prog_type, "tracing" | "lsm" | "ext"),
            _ => prog_type == need,
        }
    }

    /// What `--to` looks like for this kind, for messages.
    pub(super) fn target_form(self) -> &'static str {
        match self {
            LinkKind::Xdp
            | LinkKind::TcxIngress
            | LinkKind::TcxEgress
            | LinkKind::NetkitPrimary
            | LinkKind::NetkitPeer => "a network interface (a name or an index)",
            LinkKind::Netfilter => {
                "a netfilter hook ([ipv4:|ipv6:]prerouting, input, forward, output or postrouting)"
            }
            LinkKind::Kprobe { .. } => "a kernel function (FUNC or FUNC+OFFSET)",
            LinkKind::KprobeMulti { .. } => "kernel functions (a glob, or F1,F2,...)",
            LinkKind::Uprobe { .. } => {
                "a function of a binary (PATH:SYMBOL, PATH:SYMBOL+OFFSET or PATH:0xOFFSET)"
            }
            LinkKind::UprobeMulti { .. } => "functions of a binary (PATH:GLOB or PATH:S1,S2,...)",
            LinkKind::Tracepoint => "a tracepoint (CATEGORY:NAME)",
            LinkKind::RawTracepoint => "a raw tracepoint (NAME)",
            LinkKind::PerfEvent => "a perf event (software:NAME or hardware:NAME)",
            LinkKind::Tracing => "the function the program was loaded for",
        }
    }
}

/// The kind of link `p` makes to `to`, from `attach_type` or from the
/// program's type, its section and the target's shape.
pub(super) fn kind_for(p: &Opened, to: &str, attach_type: Option<&str>) -> Result<LinkKind> {
    if let Some(a) = attach_type {
        let kind = LinkKind::parse(a)?;
        if !kind.takes(&p.type_name) {
            return Err(wrong_type(p, kind.name()));
        }
        return Ok(kind);
    }
    let section = p.section.as_deref().unwrap_or("");
    let head = section.split('/').next().unwrap_or("");
    let multi = |s: &str| s.contains(['*', '?', ',']);
    Ok(match p.type_name.as_str() {
        "xdp" => LinkKind::Xdp,
        "netfilter" => LinkKind::Netfilter,
        "tracepoint" => LinkKind::Tracepoint,
        "raw_tracepoint" | "raw_tracepoint_writable" => LinkKind::RawTracepoint,
        "perf_event" => LinkKind::PerfEvent,
        "tracing" | "lsm" | "ext" => LinkKind::Tracing,
        "sched_cls" => match (head, spec::attach_to(section).as_deref()) {
            ("netkit", Some("primary")) => LinkKind::NetkitPrimary,
            ("netkit", Some("peer")) => LinkKind::NetkitPeer,
            (_, Some("ingress")) => LinkKind::TcxIngress,
            (_, Some("egress")) => LinkKind::TcxEgress,
            _ => {
                return Err(Error::invalid(
                    "attach",
                    format!(
                        "Cannot tell where {} attaches: a sched_cls program attaches to tcx ingress or egress, or to a netkit device",
                        p.what
                    ),
                )
                .with_hint("give --attach-type tcx_ingress, tcx_egress, netkit_primary or netkit_peer (or put it in a SEC(\"tcx/ingress\"), SEC(\"tcx/egress\"), SEC(\"netkit/primary\") or SEC(\"netkit/peer\") section)"));
            }
        },
        "kprobe" => {
            // kprobe, kretprobe, uprobe, uretprobe, each with .s or .multi.
            let ret = head.starts_with("kretprobe") || head.starts_with("uretprobe");
            let user = head.starts_with("uprobe") || head.starts_with("uretprobe");
            // A program of a multi section was loaded for a multi link
            // (BPF_TRACE_*_MULTI): one function is a multi link too.
            let loaded_multi = head.contains(".multi");
            match to.split_once(':') {
                Some((path, sym)) if user || path.contains('/') => {
                    if multi(sym) || loaded_multi {
                        LinkKind::UprobeMulti { ret }
                    } else {
                        LinkKind::Uprobe { ret }
                    }
                }
                _ if multi(to) || loaded_multi => LinkKind::KprobeMulti { ret },
                _ => LinkKind::Kprobe { ret },
            }
        }
        "struct_ops" => {
            let mut e = Error::new(
                Kind::NotSupported,
                "attach",
                format!(
                    "Cannot attach {}: a struct_ops program is attached through its struct_ops map (BPF_LINK_CREATE of the map, registered with BPF_F_LINK), and bpfx cannot load such a map: aya 0.14 does not load .struct_ops sections",
                    p.what
                ),
            )
            .with_hint("register it with `bpftool struct_ops register OBJ LINK_DIR`, which pins its link; `bpfx ls` and `unpin` then work on it");
            e.feature = Some("struct_ops".into());
            return Err(e);
        }
        t if t.starts_with("cgroup_") || t == "sock_ops" => {
            return Err(Error::new(
                Kind::WrongKind,
                "attach",
                format!(
                    "Cannot attach {} with --to: a {t} program attaches to a cgroup",
                    p.what
                ),
            )
            .with_hint("attach it to cgroups with `bpfx attach PROG --cgroup-root ...`"));
        }
        t => {
            return Err(Error::new(
                Kind::NotSupported,
                "attach",
                format!(
                    "Cannot attach {}: bpfx makes no single-target link for a {t} program",
                    p.what
                ),
            ));
        }
    })
}

fn wrong_type(p: &Opened, kind: &str) -> Error {
    let need = KINDS
        .iter()
        .find(|(n, _, _)| *n == kind)
        .map(|(_, _, t)| *t)
        .unwrap_or("another");
    Error::new(
        Kind::WrongKind,
        "attach",
        format!(
            "Cannot attach {} as \"{kind}\": its type is {}, and a \"{kind}\" link takes a {need} program",
            p.what, p.type_name
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::links::{Prog, says};

    #[test]
    fn attach_types_are_checked_against_the_program_type() {
        let p = Opened {
            prog: Prog::Pinned(std::fs::File::open("/dev/null").unwrap().into()),
            what: "program \"x\"".into(),
            type_name: "xdp".into(),
            attach_btf_id: 0,
            attach_btf_obj_id: 0,
            section: Some("xdp".into()),
        };
        let e = kind_for(&p, "do_unlinkat", Some("kprobe")).unwrap_err();
        assert_eq!(e.kind, Kind::WrongKind);
        assert_eq!(
            e.message,
            "Cannot attach program \"x\" as \"kprobe\": its type is xdp, and a \"kprobe\" link takes a kprobe program"
        );
        assert_eq!(kind_for(&p, "eth0", None).unwrap(), LinkKind::Xdp);
        assert!(says(kind_for(&p, "eth0", Some("nope")), "tcx_ingress"));
        let k = Opened {
            type_name: "kprobe".into(),
            section: Some("uretprobe/x".into()),
            ..p
        };
        assert_eq!(
            kind_for(&k, "/bin/true:main", None).unwrap(),
            LinkKind::Uprobe { ret: true }
        );
        assert_eq!(
            kind_for(&k, "/bin/true:ma*", None).unwrap(),
            LinkKind::UprobeMulti { ret: true }
        );
        let k = Opened {
            section: Some("kprobe/x".into()),
            ..k
        };
        assert_eq!(
            kind_for(&k, "vfs_*", None).unwrap(),
            LinkKind::KprobeMulti { ret: false }
        );
        assert_eq!(
            kind_for(&k, "vfs_read+4", None).unwrap(),
            LinkKind::Kprobe { ret: false }
        );
        let c = Opened {
            type_name: "sched_cls".into(),
            section: Some("classifier".into()),
            ..k
        };
        assert!(
            kind_for(&c, "eth0", None)
                .unwrap_err()
                .hint
                .clone()
                .unwrap()
                .contains("tcx_ingress")
        );
        let c = Opened {
            section: Some("classifier/egress".into()),
            ..c
        };
        assert_eq!(kind_for(&c, "eth0", None).unwrap(), LinkKind::TcxEgress);
        let s = Opened {
            type_name: "struct_ops".into(),
            ..c
        };
        assert_eq!(
            kind_for(&s, "x", None).unwrap_err().kind,
            Kind::NotSupported
        );
        let g = Opened {
            type_name: "cgroup_skb".into(),
            ..s
        };
        assert!(
            kind_for(&g, "x", None)
                .unwrap_err()
                .hint
                .clone()
                .unwrap()
                .contains("--cgroup-root")
        );
    }
}
