//! The targets of links, resolved and checked before any link is made: an
//! interface, an xdp mode, a netfilter hook, kernel functions and
//! tracepoints (through tracefs), perf PMUs and events, and the functions
//! of a user binary (its ELF symbols).

use crate::error::{Error, Kind, Result, q};
use crate::sys::links as sys_links;
use crate::{fs::mounts, object::spec};
use std::path::Path;

/// The index of the interface `to` names (a name, or an index), in this
/// network namespace.
pub(super) fn interface(to: &str) -> Result<u32> {
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

pub(super) fn xdp_flags(mode: Option<&str>) -> Result<u32> {
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
pub(super) fn netfilter_hook(to: &str) -> Result<(u32, u32)> {
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
pub(super) fn name_offset(s: &str) -> Result<(&str, u64)> {
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

pub(super) fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Whether `name` matches the glob `pat` (`*` and `?`), byte by byte.
pub fn glob_match(pat: &str, name: impl AsRef<[u8]>) -> bool {
    let (p, n) = (pat.as_bytes(), name.as_ref());
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
pub(super) fn multi_names(
    to: &str,
    all: impl FnOnce() -> Result<Vec<String>>,
) -> Result<Vec<String>> {
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
pub(super) fn kernel_functions() -> Result<Vec<String>> {
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
pub(super) fn tracepoint_id(to: &str) -> Result<u64> {
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
pub(super) fn pmu(name: &str, option: &str, to: &str) -> Result<(u32, u32)> {
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
pub(super) fn split_binary(to: &str) -> Result<(&str, &str)> {
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
pub(super) fn symbol_offsets(path: &Path, names: &[&str]) -> Result<Vec<u64>> {
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
pub(super) fn binary_functions(path: &Path) -> Result<Vec<String>> {
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

pub(super) fn perf_event(to: &str) -> Result<(u32, u64)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::links::says;

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
    fn a_missing_interface_is_not_found() {
        let e = interface("bpfx-nope0").unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert!(e.message.contains("\"bpfx-nope0\""));
        assert_eq!(interface("999999").unwrap_err().kind, Kind::NotFound);
        assert_eq!(interface("1").unwrap(), 1, "lo is index 1");
    }
}
