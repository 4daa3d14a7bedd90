//! What a BPF ELF object describes, parsed with no privileges and no
//! syscall: the *spec*, kept apart from what the kernel holds.

use crate::error::{Error, Kind, Result, q};
use crate::names;
use aya_obj::maps::PinningType;
use aya_obj::{Object, ProgramSection};
use object::{Object as _, ObjectSection as _};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramSpec {
    pub name: String,
    pub section: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub attach_type: Option<String>,
    /// What the section names as the attach point (`task` for `iter/task`).
    pub attach_to: Option<String>,
    pub instructions: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapSpec {
    pub name: String,
    pub section: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub type_id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// `none` or `by-name` (`LIBBPF_PIN_BY_NAME`).
    pub pinning: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSpec {
    pub path: String,
    pub license: String,
    pub kernel_version: Option<u32>,
    pub btf: bool,
    pub btf_ext: bool,
    pub programs: Vec<ProgramSpec>,
    pub maps: Vec<MapSpec>,
}

/// A parsed object: the spec, plus the aya object for loading.
pub struct Parsed {
    pub spec: ObjectSpec,
    pub data: Vec<u8>,
    /// Whether loading needs the kernel's BTF: CO-RE relocations, or
    /// programs that attach to a BTF type (iterators, fentry, lsm, ...).
    pub needs_kernel_btf: bool,
}

impl Parsed {
    /// The program `name` of the object (read from `obj`, as messages say
    /// it), or an error that lists the programs it has.
    pub fn program(&self, obj: &str, name: &str) -> Result<&ProgramSpec> {
        self.spec
            .programs
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.spec.programs.iter().map(|p| p.name.as_str()).collect();
                Error::new(
                    Kind::NotFound,
                    "lookup",
                    format!(
                        "Object \"{obj}\" has no program \"{name}\" (it has: {})",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// The kernel program type and attach type a section implies.
fn section_kind(s: &ProgramSection) -> (&'static str, Option<String>) {
    use ProgramSection as S;
    let lower = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
    match s {
        S::KProbe | S::KRetProbe | S::UProbe { .. } | S::URetProbe { .. } => ("kprobe", None),
        S::TracePoint => ("tracepoint", None),
        S::SocketFilter => ("socket_filter", None),
        S::Xdp { attach_type, .. } => {
            let a = match lower(attach_type).as_str() {
                "cpumap" => "xdp_cpumap",
                "devmap" => "xdp_devmap",
                _ => "xdp",
            };
            ("xdp", Some(a.into()))
        }
        S::SkMsg => ("sk_msg", Some("sk_msg_verdict".into())),
        S::SkSkbStream { kind } => ("sk_skb", Some(lower(kind))),
        S::SockOps => ("sock_ops", Some("cgroup_sock_ops".into())),
        S::SchedClassifier => ("sched_cls", None),
        S::CgroupSkb { attach_type } => ("cgroup_skb", attach_type.as_ref().map(|a| lower(a))),
        S::CgroupSockAddr { attach_type } => ("cgroup_sock_addr", Some(lower(attach_type))),
        S::CgroupSysctl => ("cgroup_sysctl", Some("cgroup_sysctl".into())),
        S::CgroupSockopt { attach_type } => ("cgroup_sockopt", Some(lower(attach_type))),
        S::LircMode2 => ("lirc_mode2", Some("lirc_mode2".into())),
        S::PerfEvent => ("perf_event", None),
        S::RawTracePoint => ("raw_tracepoint", None),
        S::Lsm { .. } => ("lsm", Some("lsm_mac".into())),
        S::LsmCgroup => ("lsm", Some("lsm_cgroup".into())),
        S::BtfTracePoint => ("tracing", Some("trace_raw_tp".into())),
        S::FEntry { .. } => ("tracing", Some("trace_fentry".into())),
        S::FExit { .. } => ("tracing", Some("trace_fexit".into())),
        S::FlowDissector => ("flow_dissector", Some("flow_dissector".into())),
        S::Extension => ("ext", None),
        S::SkLookup => ("sk_lookup", Some("sk_lookup".into())),
        S::SkReuseport { attach_type } => ("sk_reuseport", Some(lower(attach_type))),
        S::CgroupSock { attach_type } => ("cgroup_sock", Some(lower(attach_type))),
        S::CgroupDevice => ("cgroup_device", Some("cgroup_device".into())),
        S::Iter { .. } => ("tracing", Some("trace_iter".into())),
    }
}

/// The attach point a section name gives: everything after the first `/`.
pub fn attach_to(section: &str) -> Option<String> {
    section
        .split_once('/')
        .map(|(_, t)| t.to_string())
        .filter(|t| !t.is_empty())
}

fn elf_error(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Kind::Elf,
        "parse",
        format!("Cannot read BPF object {}: {why}", q(path)),
    )
    .with_path(path)
    .with_hint("pass a BPF ELF object compiled with `clang -target bpf`")
}

/// Reads and parses `path`.
pub fn parse_file(path: &Path) -> Result<Parsed> {
    let data = std::fs::read(path).map_err(|e| {
        Error::io(format!("Cannot read BPF object {}", q(path)), "open", &e).with_path(path)
    })?;
    parse(path, data)
}

/// Parses the bytes of an object read from `path`.
pub fn parse(path: &Path, data: Vec<u8>) -> Result<Parsed> {
    let elf = object::File::parse(&*data)
        .map_err(|e| elf_error(path, format!("not a valid ELF file ({e})")))?;
    if elf.architecture() != object::Architecture::Bpf {
        return Err(elf_error(
            path,
            format!(
                "it is an ELF file for {:?}, not for BPF",
                elf.architecture()
            ),
        ));
    }
    let sections: HashMap<usize, String> = elf
        .sections()
        .map(|s| (s.index().0, s.name().unwrap_or("").to_string()))
        .collect();
    let obj = Object::parse(&data).map_err(|e| elf_error(path, e))?;
    let section_name = |i: usize| sections.get(&i).cloned().unwrap_or_default();

    let mut programs: Vec<ProgramSpec> = obj
        .programs
        .iter()
        .map(|(name, p)| {
            let section = section_name(p.section_index);
            let (type_name, attach_type) = section_kind(&p.section);
            ProgramSpec {
                name: name.clone(),
                attach_to: attach_to(&section),
                section,
                type_name: type_name.into(),
                attach_type,
                instructions: obj
                    .functions
                    .get(&p.function_key())
                    .map_or(0, |f| f.instructions.len()),
            }
        })
        .collect();
    programs.sort_by(|a, b| a.name.cmp(&b.name));

    let mut maps: Vec<MapSpec> = obj
        .maps
        .iter()
        .map(|(name, m)| MapSpec {
            name: name.clone(),
            section: section_name(m.section_index()),
            type_name: names::map_type(m.map_type()),
            type_id: m.map_type(),
            key_size: m.key_size(),
            value_size: m.value_size(),
            max_entries: m.max_entries(),
            flags: m.map_flags(),
            pinning: match m.pinning() {
                PinningType::ByName => "by-name",
                PinningType::None => "none",
            },
        })
        .collect();
    maps.sort_by(|a, b| a.name.cmp(&b.name));

    let needs_kernel_btf = obj.has_btf_relocations()
        || obj.programs.values().any(|p| {
            matches!(
                p.section,
                ProgramSection::Iter { .. }
                    | ProgramSection::FEntry { .. }
                    | ProgramSection::FExit { .. }
                    | ProgramSection::Lsm { .. }
                    | ProgramSection::LsmCgroup
                    | ProgramSection::BtfTracePoint
            )
        });
    let spec = ObjectSpec {
        path: path.display().to_string(),
        license: obj.license.to_string_lossy().into_owned(),
        kernel_version: obj.kernel_version,
        btf: obj.btf.is_some(),
        btf_ext: obj.btf_ext.is_some(),
        programs,
        maps,
    };
    Ok(Parsed {
        spec,
        data,
        needs_kernel_btf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_to_takes_the_part_after_the_first_slash() {
        assert_eq!(attach_to("iter/task").as_deref(), Some("task"));
        assert_eq!(
            attach_to("tracepoint/syscalls/sys_enter_execve").as_deref(),
            Some("syscalls/sys_enter_execve")
        );
        assert_eq!(attach_to("xdp"), None);
        assert_eq!(attach_to("kprobe/"), None);
    }

    #[test]
    fn parse_refuses_garbage_and_non_bpf_elf() {
        let e = parse(Path::new("/x.o"), b"not an elf".to_vec())
            .err()
            .unwrap();
        assert_eq!(e.kind, Kind::Elf);
        assert!(
            e.message
                .starts_with("Cannot read BPF object \"/x.o\": not a valid ELF file"),
            "{}",
            e.message
        );
        // The test binary itself is an ELF file, but not a BPF one.
        let me = std::env::current_exe().unwrap();
        let e = parse_file(&me).err().unwrap();
        assert_eq!(e.kind, Kind::Elf);
        assert!(e.message.contains("not for BPF"), "{}", e.message);
    }

    #[test]
    fn parse_file_maps_a_missing_file_to_not_found() {
        let e = parse_file(Path::new("/nonexistent/x.o")).err().unwrap();
        assert_eq!(e.kind, Kind::NotFound);
        assert_eq!(e.op, "open");
        assert_eq!(
            e.message,
            "Cannot read BPF object \"/nonexistent/x.o\": no such file or directory"
        );
    }
}
