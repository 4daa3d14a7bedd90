//! Making the link: the kernel calls for each kind (BPF_LINK_CREATE, a perf
//! event's link, BPF_RAW_TRACEPOINT_OPEN), the options each kind takes, and
//! the kernel's refusals said for the link and its target.

use super::targets::{
    binary_functions, interface, kernel_functions, multi_names, name_offset, netfilter_hook,
    number, perf_event, pmu, split_binary, symbol_offsets, tracepoint_id, xdp_flags,
};
use super::{LinkKind, LinkRequest, Opened};
use crate::error::{Error, Kind, Result, q};
use crate::sys::links::{self as sys_links, LinkExtra, PerfEventAttr};
use crate::{fs::mounts, sys};
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;

const BPF_PERF_EVENT: u32 = 41;

fn attach_type_of(kind: LinkKind) -> u32 {
    match kind {
        LinkKind::Xdp => 37,
        LinkKind::TcxIngress => 46,
        LinkKind::TcxEgress => 47,
        LinkKind::NetkitPrimary => 55,
        LinkKind::NetkitPeer => 56,
        LinkKind::Netfilter => 45,
        LinkKind::KprobeMulti { .. } => 42,
        LinkKind::UprobeMulti { .. } => 48,
        _ => BPF_PERF_EVENT,
    }
}

fn describe_kind(kind: LinkKind) -> String {
    kind.name().replace('_', " ")
}

/// The error of a failed link creation, said for its kind and target.
fn link_error(kind: LinkKind, to: &str, op_what: &str, e: sys::SysError) -> Error {
    let what = format!("Cannot attach a {} link to \"{to}\"", describe_kind(kind));
    let err = Error::sys(format!("{what}{op_what}"), e);
    match (kind, err.errno) {
        (LinkKind::Kprobe { .. }, libc::ENOENT | libc::EINVAL) => err
            .with_kind(Kind::NotFound)
            .with_message(format!("{what}: the kernel has no function \"{to}\" that kprobes can attach to"))
            .with_hint("/sys/kernel/tracing/available_filter_functions lists them"),
        (LinkKind::RawTracepoint, libc::ENOENT) => err
            .with_message(format!("{what}: the kernel has no raw tracepoint \"{to}\""))
            .with_hint("/sys/kernel/tracing/available_events lists the tracepoints, as CATEGORY:NAME; a raw tracepoint is the NAME"),
        (LinkKind::KprobeMulti { .. } | LinkKind::UprobeMulti { .. }, libc::EINVAL) => err.with_hint(
            "a multi link needs a program loaded for it (SEC(\"kprobe.multi/...\") or SEC(\"uprobe.multi/...\"), with libbpf 1.0 or 1.3 and later), and every name must exist",
        ),
        (LinkKind::Xdp | LinkKind::TcxIngress | LinkKind::TcxEgress, libc::EBUSY | libc::EEXIST) => err
            .with_hint("another program is attached to the interface (`bpftool net` shows it; detach it first), or a link to it was just unpinned and the kernel is still releasing it (try again)"),
        (LinkKind::NetkitPrimary | LinkKind::NetkitPeer, libc::ENXIO | libc::EINVAL) => err
            .with_hint("a netkit link needs a netkit device (ip link add NAME type netkit)"),
        (LinkKind::KprobeMulti { .. } | LinkKind::UprobeMulti { .. }, libc::EOPNOTSUPP) => {
            let (check, option) = match kind {
                LinkKind::KprobeMulti { .. } => ("link kprobe_multi", "CONFIG_FPROBE"),
                _ => ("link uprobe_multi", "CONFIG_UPROBES"),
            };
            let mut e = err
                .with_message(format!("{what}: BPF_LINK_CREATE says not supported: the kernel is built without {option}"))
                .with_hint(format!("`bpfx doctor` checks \"{check}\""));
            e.feature = Some(check.into());
            e
        }
        (_, libc::EOPNOTSUPP) => err.with_hint(format!(
            "this kernel or interface does not support {} links (`bpfx doctor` lists the link types)",
            describe_kind(kind)
        )),
        _ if err.hint.is_none() => err.with_hint(format!(
            "a {} link attaches to {}",
            describe_kind(kind),
            kind.target_form()
        )),
        _ => err,
    }
}

/// Makes the link of `p` to `to` of kind `kind`; returns its fd.
pub(super) fn make(p: &Opened, kind: LinkKind, req: &LinkRequest) -> Result<OwnedFd> {
    let to = req.to.as_str();
    let prog = p.prog.fd()?;
    let only = |field: &str, given: bool, kinds: &str| -> Result<()> {
        if given {
            return Err(Error::invalid(
                "attach",
                format!(
                    "\"{field}\" is not for {} links: it is for {kinds}",
                    describe_kind(kind)
                ),
            ));
        }
        Ok(())
    };
    let is_net = matches!(kind, LinkKind::Xdp);
    only("mode", req.mode.is_some() && !is_net, "xdp links")?;
    only(
        "priority",
        req.priority.is_some() && kind != LinkKind::Netfilter,
        "netfilter links",
    )?;
    let takes_pid = matches!(
        kind,
        LinkKind::Uprobe { .. } | LinkKind::UprobeMulti { .. } | LinkKind::PerfEvent
    );
    only(
        "pid",
        req.pid.is_some() && !takes_pid,
        "uprobes and perf events",
    )?;
    let perf = kind == LinkKind::PerfEvent;
    only("cpu", req.cpu.is_some() && !perf, "perf events")?;
    only("period", req.period.is_some() && !perf, "perf events")?;
    only("frequency", req.frequency.is_some() && !perf, "perf events")?;
    let link_create = |target: u32, flags: u32, extra: LinkExtra<'_>| {
        sys_links::bpf_link_create(prog, target, attach_type_of(kind), flags, extra)
            .map_err(|e| link_error(kind, to, "", e))
    };
    let perf_link = |attr: PerfEventAttr, pid: i32, cpu: i32| -> Result<OwnedFd> {
        let event = sys_links::perf_event_open(&attr, pid, cpu)
            .map_err(|e| link_error(kind, to, ": perf_event_open", e))?;
        use std::os::fd::AsRawFd as _;
        link_create(
            event.as_raw_fd() as u32,
            0,
            LinkExtra::PerfEvent { cookie: 0 },
        )
        // `event` closes here; the link holds the perf event.
    };
    match kind {
        LinkKind::Xdp => link_create(
            interface(to)?,
            xdp_flags(req.mode.as_deref())?,
            LinkExtra::None,
        ),
        LinkKind::TcxIngress
        | LinkKind::TcxEgress
        | LinkKind::NetkitPrimary
        | LinkKind::NetkitPeer => link_create(interface(to)?, 0, LinkExtra::None),
        LinkKind::Netfilter => {
            let (pf, hooknum) = netfilter_hook(to)?;
            let priority = req.priority.unwrap_or(0);
            link_create(
                0,
                0,
                LinkExtra::Netfilter {
                    pf,
                    hooknum,
                    priority,
                },
            )
        }
        LinkKind::Kprobe { ret } => {
            let (func, offset) = name_offset(to)?;
            if func.is_empty() || func.contains(['/', ':', ' ']) {
                return Err(Error::invalid(
                    "attach",
                    format!("Invalid kernel function \"{to}\": give FUNC or FUNC+OFFSET"),
                ));
            }
            let (type_, bit) = pmu("kprobe", "CONFIG_KPROBES", to)?;
            let name = CString::new(func).expect("checked: no NUL");
            let attr = PerfEventAttr {
                type_,
                config: if ret { 1 << bit } else { 0 },
                config1: name.as_ptr() as u64,
                config2: offset,
                sample_period: 1,
                ..Default::default()
            };
            perf_link(attr, -1, 0)
        }
        LinkKind::KprobeMulti { ret } => {
            let names = multi_names(to, kernel_functions)?;
            if names.is_empty() {
                return Err(Error::new(
                    Kind::NotFound,
                    "attach",
                    format!("No kernel function matches \"{to}\""),
                ));
            }
            let cs: Vec<CString> = names
                .iter()
                .map(|n| CString::new(n.as_str()))
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| Error::invalid("attach", "A function name holds a NUL byte"))?;
            let ptrs: Vec<*const libc::c_char> = cs.iter().map(|c| c.as_ptr()).collect();
            link_create(
                0,
                0,
                LinkExtra::KprobeMulti {
                    retprobe: ret,
                    syms: &ptrs,
                },
            )
        }
        LinkKind::Uprobe { ret } => {
            let (path, spec) = split_binary(to)?;
            let path = mounts::absolute(Path::new(path));
            let (sym, extra) = name_offset(spec)?;
            let offset = match number(sym) {
                Some(off) if sym.starts_with("0x") => off + extra,
                _ => symbol_offsets(&path, &[sym])?[0] + extra,
            };
            let (type_, bit) = pmu("uprobe", "CONFIG_UPROBE_EVENTS", to)?;
            let cpath = sys::cpath(&path, "perf_event_open")
                .map_err(|e| Error::sys("Cannot attach a uprobe", e))?;
            let attr = PerfEventAttr {
                type_,
                config: if ret { 1 << bit } else { 0 },
                config1: cpath.as_ptr() as u64,
                config2: offset,
                sample_period: 1,
                ..Default::default()
            };
            match req.pid {
                Some(pid) => perf_link(attr, pid as i32, -1),
                None => perf_link(attr, -1, 0),
            }
        }
        LinkKind::UprobeMulti { ret } => {
            let (path, spec) = split_binary(to)?;
            let path = mounts::absolute(Path::new(path));
            let names = multi_names(spec, || binary_functions(&path))?;
            if names.is_empty() {
                return Err(Error::new(
                    Kind::NotFound,
                    "attach",
                    format!("No function of {} matches \"{spec}\"", q(&path)),
                ));
            }
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let offsets = symbol_offsets(&path, &refs)?;
            let cpath = sys::cpath(&path, "BPF_LINK_CREATE")
                .map_err(|e| Error::sys("Cannot attach a uprobe", e))?;
            link_create(
                0,
                0,
                LinkExtra::UprobeMulti {
                    retprobe: ret,
                    path: &cpath,
                    offsets: &offsets,
                    pid: req.pid.unwrap_or(0),
                },
            )
        }
        LinkKind::Tracepoint => {
            let id = tracepoint_id(to)?;
            let attr = PerfEventAttr {
                type_: 2, // PERF_TYPE_TRACEPOINT
                config: id,
                sample_period: 1,
                ..Default::default()
            };
            perf_link(attr, -1, 0)
        }
        LinkKind::PerfEvent => {
            let (type_, config) = perf_event(to)?;
            if req.period.is_some() && req.frequency.is_some() {
                return Err(Error::invalid(
                    "attach",
                    "Give a sampling period or a frequency, not both",
                ));
            }
            let (sample_period, freq) = match (req.period, req.frequency) {
                (Some(p), _) => (p, false),
                (_, Some(f)) => (f, true),
                _ => (99, true),
            };
            if sample_period == 0 {
                return Err(Error::invalid(
                    "attach",
                    "The sampling period or frequency must be at least 1",
                ));
            }
            let attr = PerfEventAttr {
                type_,
                config,
                sample_period,
                freq,
                ..Default::default()
            };
            let (pid, cpu) = match (req.pid, req.cpu) {
                (Some(pid), cpu) => (pid as i32, cpu.map_or(-1, |c| c as i32)),
                (None, cpu) => (-1, cpu.unwrap_or(0) as i32),
            };
            perf_link(attr, pid, cpu)
        }
        LinkKind::RawTracepoint => {
            if to.is_empty() || to.contains(['/', ':', ' ']) {
                return Err(Error::invalid(
                    "attach",
                    format!("Invalid raw tracepoint \"{to}\": give its NAME, such as sched_switch"),
                ));
            }
            sys_links::bpf_raw_tracepoint_open(prog, Some(to))
                .map_err(|e| link_error(kind, to, "", e))
        }
        LinkKind::Tracing => {
            check_tracing_target(p, to)?;
            sys_links::bpf_raw_tracepoint_open(prog, None).map_err(|e| link_error(kind, to, "", e))
        }
    }
}

/// Refuses `--to` when it is not the target a tracing program was loaded
/// for (its `attach_btf_id`'s name in the kernel's BTF; `btf_trace_NAME`
/// for a tp_btf program).
fn check_tracing_target(p: &Opened, to: &str) -> Result<()> {
    let in_vmlinux = p.attach_btf_obj_id == 0
        || sys_links::btf_name(p.attach_btf_obj_id).is_ok_and(|n| n == "vmlinux");
    if p.attach_btf_id == 0 || !in_vmlinux {
        return Ok(()); // a module's or a program's BTF: the kernel checks
    }
    let btf = crate::kernel::btf::RawBtf::kernel()?;
    let Some(name) = btf.name_of(p.attach_btf_id) else {
        return Ok(());
    };
    if let Some(iter) = name.strip_prefix("bpf_iter_") {
        return Err(Error::new(
            Kind::WrongKind,
            "attach",
            format!(
                "Cannot attach {} with --to: it is a \"{iter}\" iterator",
                p.what
            ),
        )
        .with_hint("make a view of it with `bpfx view PROG PIN`"));
    }
    let target = name.strip_prefix("btf_trace_").unwrap_or(name);
    if target != to {
        return Err(Error::invalid(
            "attach",
            format!(
                "Cannot attach {} to \"{to}\": it was loaded for \"{target}\", the only target a {} program has",
                p.what, p.type_name
            ),
        )
        .with_hint(format!("give --to {target}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::links::Prog;

    #[test]
    fn kernel_refusals_are_said_for_the_link_and_its_target() {
        use crate::sys::{BpfCmd, Call, fake};
        let _g = fake::install(|c| match c {
            Call::Bpf {
                cmd: BpfCmd::RawTracepointOpen,
                ..
            } => fake::errno(libc::ENOENT),
            Call::Bpf {
                cmd: BpfCmd::LinkCreate,
                ..
            } => fake::errno(libc::EOPNOTSUPP),
            _ => None,
        });
        let p = |type_name: &str| Opened {
            prog: Prog::Pinned(std::fs::File::open("/dev/null").unwrap().into()),
            what: "program \"x\"".into(),
            type_name: type_name.into(),
            attach_btf_id: 0,
            attach_btf_obj_id: 0,
            section: None,
        };
        let req = |to: &str| LinkRequest {
            to: to.into(),
            ..Default::default()
        };
        let e = make(&p("raw_tracepoint"), LinkKind::RawTracepoint, &req("nope")).unwrap_err();
        assert_eq!(
            (e.kind, e.op.as_str()),
            (Kind::NotFound, "BPF_RAW_TRACEPOINT_OPEN")
        );
        assert_eq!(
            e.message,
            "Cannot attach a raw tracepoint link to \"nope\": the kernel has no raw tracepoint \"nope\""
        );
        let e = make(
            &p("kprobe"),
            LinkKind::KprobeMulti { ret: false },
            &req("a,b"),
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::NotSupported);
        assert_eq!(e.feature.as_deref(), Some("link kprobe_multi"));
        assert!(
            e.message
                .ends_with("the kernel is built without CONFIG_FPROBE")
        );
        let e = make(
            &p("xdp"),
            LinkKind::Xdp,
            &LinkRequest {
                priority: Some(1),
                ..req("lo")
            },
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "\"priority\" is not for xdp links: it is for netfilter links"
        );
    }
}
