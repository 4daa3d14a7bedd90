//! Any program as a pinned link: one BPF link of a program to one target
//! (an interface, a kernel or user function, a tracepoint, a perf event, a
//! netfilter hook), pinned in bpffs. The pin is the link's only reference
//! bpfx keeps: unpinning it detaches the program.
//!
//! The kind of link comes from the program's type and, for a program loaded
//! from `OBJ:NAME`, its section (`kretprobe/...`, `uretprobe/...`,
//! `classifier/ingress`); the caller's `attach_type` overrides it and is
//! checked against the program's type. Each target is resolved and checked
//! here before any link is made, and the link is pinned last: a failure
//! leaves nothing behind (an unpinned link closes with its fd).
//!
//! - `kind`: the kinds of link, and the kind a program makes to a target;
//! - `prog`: the program a link is made for (a pin, or one program of
//!   `OBJ:NAME` loaded);

mod kind;
mod prog;

pub use kind::LinkKind;
pub(crate) use prog::{Opened, Prog, open_prog};

use kind::kind_for;

use crate::error::{Error, Kind, Result, q};
use crate::kernel::info::{self, ObjKind, ObjectInfo};
use crate::sys::links::{self as sys_links, LinkExtra, PerfEventAttr};
use crate::{fs::mounts, kernel::pins, object::spec, sys};
use serde::Deserialize;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What the caller asks for.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkRequest {
    /// A pinned program, or `OBJ:NAME`.
    pub prog: String,
    /// The target, in the form the link kind takes (see [`LinkKind`]).
    pub to: String,
    /// Where to pin the link (on bpffs).
    pub pin: PathBuf,
    /// Overrides the kind the program's type and section give.
    pub attach_type: Option<String>,
    /// xdp: `generic`, `native` or `offload` (default: the kernel's choice).
    pub mode: Option<String>,
    /// netfilter: the hook's priority (default 0).
    pub priority: Option<i32>,
    /// uprobe, uprobe_multi and perf_event: only this process.
    pub pid: Option<u32>,
    /// perf_event: the CPU (default 0 unless `pid` is given).
    pub cpu: Option<u32>,
    /// perf_event: sample every N events.
    pub period: Option<u64>,
    /// perf_event: sample N times a second (default 99).
    pub frequency: Option<u64>,
    /// Where maps pinned by name go when `prog` is `OBJ:NAME`.
    pub pin_by_name_root: Option<PathBuf>,
}

// ---------------------------------------------------------------------------
// Targets

/// The index of the interface `to` names (a name, or an index), in this
/// network namespace.
fn interface(to: &str) -> Result<u32> {
    let not_found = || {
        Error::new(
            Kind::NotFound,
            "if_nametoindex",
            format!("No network interface \"{to}\" in this network namespace"),
        )
        .with_hint("`ip link` lists the interfaces; run bpfx in the interface's namespace (`ip netns exec NS bpfx ...`)")
    };
    if !to.is_empty() && to.bytes().all(|b| b.is_ascii_digit()) {
        let index: u32 = to.parse().map_err(|_| not_found())?;
        return sys_links::if_indextoname(index)
            .map(|_| index)
            .ok_or_else(not_found);
    }
    if to.is_empty() || to.len() >= libc::IF_NAMESIZE || to.contains(['/', ' ']) {
        return Err(not_found());
    }
    sys_links::if_nametoindex(to).map_err(|_| not_found())
}

const XDP_MODES: [(&str, u32); 3] = [("generic", 1 << 1), ("native", 1 << 2), ("offload", 1 << 3)];

fn xdp_flags(mode: Option<&str>) -> Result<u32> {
    match mode {
        None => Ok(0),
        Some(m) => XDP_MODES
            .iter()
            .find(|(n, _)| *n == m)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                Error::invalid(
                    "attach",
                    format!("Unknown xdp mode \"{m}\": use generic, native or offload"),
                )
            }),
    }
}

const NF_HOOKS: [(&str, u32); 5] = [
    ("prerouting", 0),
    ("input", 1),
    ("forward", 2),
    ("output", 3),
    ("postrouting", 4),
];

/// `[ipv4:|ipv6:]HOOK` as (pf, hooknum).
fn netfilter_hook(to: &str) -> Result<(u32, u32)> {
    let (pf, hook) = to.split_once(':').unwrap_or(("ipv4", to));
    let pf = match pf {
        "ipv4" | "inet4" => libc::NFPROTO_IPV4 as u32,
        "ipv6" | "inet6" => libc::NFPROTO_IPV6 as u32,
        _ => {
            return Err(Error::invalid(
                "attach",
                format!("Unknown protocol family \"{pf}\" in \"{to}\": use ipv4 or ipv6"),
            ));
        }
    };
    let hook = NF_HOOKS.iter().find(|(n, _)| *n == hook).map(|(_, h)| *h).ok_or_else(|| {
        Error::invalid(
            "attach",
            format!("Unknown netfilter hook \"{hook}\": use prerouting, input, forward, output or postrouting"),
        )
    })?;
    Ok((pf, hook))
}

/// `NAME[+OFFSET]` (OFFSET decimal or 0x hex).
fn name_offset(s: &str) -> Result<(&str, u64)> {
    match s.split_once('+') {
        None => Ok((s, 0)),
        Some((n, off)) => Ok((
            n,
            number(off).ok_or_else(|| {
                Error::invalid(
                    "attach",
                    format!(
                        "Invalid offset \"{off}\" in \"{s}\": give a number (decimal or 0x hex)"
                    ),
                )
            })?,
        )),
    }
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Whether `name` matches the glob `pat` (`*` and `?`).
pub fn glob_match(pat: &str, name: &str) -> bool {
    let (p, n) = (pat.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The names a multi target gives: each of a comma list, or every name of
/// `all` a glob matches.
fn multi_names(to: &str, all: impl FnOnce() -> Result<Vec<String>>) -> Result<Vec<String>> {
    if to.contains(',') || !to.contains(['*', '?']) {
        return Ok(to
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect());
    }
    Ok(all()?.into_iter().filter(|n| glob_match(to, n)).collect())
}

/// Where tracefs is mounted: /sys/kernel/tracing, else any tracefs mount,
/// else the one under debugfs.
pub fn tracefs() -> Option<String> {
    let mut places = vec!["/sys/kernel/tracing".to_string()];
    places.extend(mounts::mountpoints("tracefs").unwrap_or_default());
    places.push("/sys/kernel/debug/tracing".into());
    places
        .into_iter()
        .find(|p| Path::new(p).join("events").is_dir())
}

fn no_tracefs(what: &str) -> Error {
    Error::new(
        Kind::NotSupported,
        "open",
        format!("Cannot find {what}: tracefs is not mounted"),
    )
    .with_hint("mount it (mount -t tracefs tracefs /sys/kernel/tracing)")
}

/// The kernel functions kprobes can attach to (tracefs's
/// `available_filter_functions`), without module names.
fn kernel_functions() -> Result<Vec<String>> {
    let dir = tracefs().ok_or_else(|| no_tracefs("the kernel's traceable functions"))?;
    let path = format!("{dir}/available_filter_functions");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("Cannot read \"{path}\""), "open", &e))?;
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// A tracepoint's id, from tracefs.
fn tracepoint_id(to: &str) -> Result<u64> {
    let (cat, name) = to.split_once([':', '/']).ok_or_else(|| {
        Error::invalid(
            "attach",
            format!(
                "Invalid tracepoint \"{to}\": give CATEGORY:NAME, such as syscalls:sys_enter_openat"
            ),
        )
    })?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok(cat) || !ok(name) {
        return Err(Error::invalid(
            "attach",
            format!(
                "Invalid tracepoint \"{to}\": a category and a name are letters, digits and '_'"
            ),
        ));
    }
    let dir = tracefs().ok_or_else(|| no_tracefs(&format!("tracepoint \"{to}\"")))?;
    let path = format!("{dir}/events/{cat}/{name}/id");
    match std::fs::read_to_string(&path) {
        Ok(id) => id
            .trim()
            .parse()
            .map_err(|_| Error::internal(format!("tracefs gave no number in \"{path}\""))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::new(
            Kind::NotFound,
            "open",
            format!("No tracepoint \"{cat}:{name}\" in this kernel"),
        )
        .with_hint(format!("{dir}/available_events lists them"))),
        Err(e) => Err(Error::io(format!("Cannot read \"{path}\""), "open", &e)),
    }
}

/// A perf PMU's type (`/sys/bus/event_source/devices/NAME/type`) and the
/// config bit of its `retprobe` format. A missing PMU is said as doctor's
/// "link NAME" check says it.
fn pmu(name: &str, option: &str, to: &str) -> Result<(u32, u32)> {
    let dir = format!("/sys/bus/event_source/devices/{name}");
    let type_ = std::fs::read_to_string(format!("{dir}/type"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| {
            let mut e = Error::new(
                Kind::NotSupported,
                "perf_event_open",
                format!("Cannot attach a {name} link to \"{to}\": no perf PMU at {dir}: the kernel is built without {option}"),
            )
            .with_hint(format!("`bpfx doctor` checks \"link {name}\""));
            e.feature = Some(format!("link {name}"));
            e
        })?;
    let bit = std::fs::read_to_string(format!("{dir}/format/retprobe"))
        .ok()
        .and_then(|f| f.trim().strip_prefix("config:")?.parse().ok())
        .unwrap_or(0);
    Ok((type_, bit))
}

/// `PATH:SPEC` of a uprobe.
fn split_binary(to: &str) -> Result<(&str, &str)> {
    to.split_once(':').filter(|(p, s)| !p.is_empty() && !s.is_empty()).ok_or_else(|| {
        Error::invalid("attach", format!("Invalid uprobe target \"{to}\": give PATH:SYMBOL, PATH:SYMBOL+OFFSET or PATH:0xOFFSET"))
    })
}

/// The largest binary a uprobe target is read from: 1 GiB.
const MAX_BINARY: u64 = 1 << 30;

/// The bytes of the ELF binary at `path`, a regular file.
fn read_binary(path: &Path) -> Result<Vec<u8>> {
    spec::read_file(path, MAX_BINARY, "binary", "name a smaller binary")
}

/// The file offsets of `names` in the ELF binary at `path` (symbol values
/// turned into offsets through the loadable segment that holds them).
fn symbol_offsets(path: &Path, names: &[&str]) -> Result<Vec<u64>> {
    use ::object::{Object as _, ObjectSegment as _, ObjectSymbol as _};
    let data = read_binary(path)?;
    let elf = ::object::File::parse(&*data).map_err(|e| {
        Error::new(
            Kind::Invalid,
            "parse",
            format!("Cannot read binary {}: not an ELF file ({e})", q(path)),
        )
        .with_path(path)
    })?;
    let segments: Vec<(u64, u64, u64)> = elf
        .segments()
        .map(|s| (s.address(), s.size(), s.file_range().0))
        .collect();
    let mut out = Vec::new();
    for name in names {
        let sym = elf
            .symbols()
            .chain(elf.dynamic_symbols())
            .find(|s| s.name() == Ok(name) && s.is_definition() && s.address() != 0)
            .ok_or_else(|| {
                Error::new(
                    Kind::NotFound,
                    "lookup",
                    format!("Binary {} has no function \"{name}\"", q(path)),
                )
                .with_path(path)
                .with_hint(
                    "`nm -D` or `nm` lists its symbols; a stripped binary takes PATH:0xOFFSET",
                )
            })?;
        let addr = sym.address();
        let off = segments
            .iter()
            .find(|(a, size, _)| addr >= *a && addr < a + size)
            .map_or(addr, |(a, _, off)| addr - a + off);
        out.push(off);
    }
    Ok(out)
}

/// Every function symbol of the ELF binary at `path`.
fn binary_functions(path: &Path) -> Result<Vec<String>> {
    use ::object::{Object as _, ObjectSymbol as _, SymbolKind};
    let data = read_binary(path)?;
    let elf = ::object::File::parse(&*data).map_err(|e| {
        Error::new(
            Kind::Invalid,
            "parse",
            format!("Cannot read binary {}: not an ELF file ({e})", q(path)),
        )
        .with_path(path)
    })?;
    let mut names: Vec<String> = elf
        .symbols()
        .chain(elf.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn perf_event(to: &str) -> Result<(u32, u64)> {
    let (kind, name) = to.split_once(':').unwrap_or(("software", to));
    let (type_, _, names) = crate::kernel::link_info::EVENTS
        .iter()
        .find(|(_, k, _)| *k == kind)
        .ok_or_else(|| {
            Error::invalid(
                "attach",
                format!("Unknown perf event type \"{kind}\": use software or hardware"),
            )
        })?;
    let config = names.iter().position(|n| *n == name).ok_or_else(|| {
        Error::invalid(
            "attach",
            format!(
                "Unknown {kind} event \"{name}\": use one of {}",
                names.join(", ")
            ),
        )
    })?;
    Ok((*type_, config as u64))
}

// ---------------------------------------------------------------------------
// Making the link

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
fn make(p: &Opened, kind: LinkKind, req: &LinkRequest) -> Result<OwnedFd> {
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

/// Makes the link `req` asks for and pins it; returns the link's
/// information (with its pin path). Nothing is left on failure.
pub fn attach(req: &LinkRequest) -> Result<ObjectInfo> {
    if req.to.is_empty() {
        return Err(Error::invalid("attach", "The target (--to) is empty"));
    }
    let pin = mounts::absolute(&req.pin);
    pins::check_new(&pin, "link")?;
    let p = open_prog(&req.prog, req.pin_by_name_root.as_deref())?;
    let kind = kind_for(&p, &req.to, req.attach_type.as_deref())?;
    let link = make(&p, kind, req)?;
    pins::pin_at(link.as_fd(), &pin, "link")?;
    let mut i = info::info_of_kind(link.as_fd(), ObjKind::Link)?;
    i.path = Some(pin.display().to_string());
    Ok(i)
}

/// Whether `r` failed with a message holding `text`.
#[cfg(test)]
fn says<T: std::fmt::Debug>(r: Result<T>, text: &str) -> bool {
    r.unwrap_err().message.contains(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_shells_do() {
        assert!(glob_match("do_unlink*", "do_unlinkat"));
        assert!(glob_match("*unlink*", "do_unlinkat"));
        assert!(glob_match("do_?nlinkat", "do_unlinkat"));
        assert!(!glob_match("do_unlink", "do_unlinkat"));
        assert!(!glob_match("x*y", "xz"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn targets_parse_or_say_what_they_take() {
        assert_eq!(name_offset("f+0x10").unwrap(), ("f", 16));
        assert_eq!(name_offset("f+8").unwrap(), ("f", 8));
        assert_eq!(name_offset("f").unwrap(), ("f", 0));
        assert!(says(name_offset("f+x"), "Invalid offset \"x\""));
        assert_eq!(netfilter_hook("input").unwrap(), (2, 1));
        assert_eq!(netfilter_hook("ipv6:postrouting").unwrap(), (10, 4));
        assert!(says(netfilter_hook("ipx:input"), "\"ipx\""));
        assert!(says(netfilter_hook("nope"), "\"nope\""));
        assert_eq!(perf_event("software:cpu-clock").unwrap(), (1, 0));
        assert_eq!(perf_event("hardware:instructions").unwrap(), (0, 1));
        assert!(says(perf_event("software:nope"), "cpu-clock"));
        assert_eq!(xdp_flags(Some("generic")).unwrap(), 2);
        assert!(xdp_flags(Some("fast")).is_err());
        assert!(tracepoint_id("../x:y").is_err());
        assert!(says(tracepoint_id("nocolon"), "CATEGORY:NAME"));
        assert_eq!(
            multi_names("a,b", || unreachable!()).unwrap(),
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(
            multi_names("a*", || Ok(vec!["ab".into(), "ba".into(), "ac".into()])).unwrap(),
            vec!["ab".to_string(), "ac".to_string()]
        );
    }

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

    #[test]
    fn a_missing_interface_is_not_found() {
        let e = interface("bpfx-nope0").unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert!(e.message.contains("\"bpfx-nope0\""));
        assert_eq!(interface("999999").unwrap_err().kind, Kind::NotFound);
        assert_eq!(interface("1").unwrap(), 1, "lo is index 1");
    }
}
