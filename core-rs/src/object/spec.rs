//! What a BPF ELF object describes, parsed with no privileges and no
//! syscall: the *spec*, kept apart from what the kernel holds.

use crate::error::{Error, Kind, Result, q};
use crate::object::sections::{self, Handling, ProgSection};
use crate::{kernel::names, object::linker};
use aya_obj::maps::PinningType;
use aya_obj::{Object, ProgramSection};
use object::Object as _;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr as _;

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
    /// Whether a load without `--only` loads it: false for a section whose
    /// name starts with `?` (libbpf's "not loaded unless asked").
    pub autoload: bool,
    /// Why bpfx cannot load it, when it cannot.
    pub unsupported: Option<String>,
    /// The maps its instructions (and the functions they call) refer to.
    pub maps: Vec<String>,
    /// The ELF section's index.
    #[serde(skip)]
    pub section_index: usize,
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

/// A parsed object: the spec, plus the bytes to load from.
pub struct Parsed {
    pub path: std::path::PathBuf,
    pub spec: ObjectSpec,
    /// The object's bytes, as read.
    pub data: Vec<u8>,
    /// Each map defined in `.maps`: its name and its key's and value's
    /// type ids in the object's BTF (0 when not given).
    pub map_type_ids: Vec<(String, u32, u32)>,
    /// The object's `.BTF` section, when it has one.
    pub btf_data: Option<Vec<u8>>,
    /// Its program sections (everything executable but `.text`).
    pub sections: Vec<ProgSection>,
    /// Whether loading needs the kernel's BTF: CO-RE relocations, or
    /// programs that attach to a BTF type (iterators, fentry, lsm, ...).
    pub needs_kernel_btf: bool,
}

impl Parsed {
    /// Map `name`'s key and value types, described from the object's BTF as
    /// a pinned map's are (`map_btf`), or null when the object gives none
    /// (a map of the legacy `maps` section, or no BTF).
    pub fn map_btf(&self, name: &str) -> Result<serde_json::Value> {
        if !self.spec.maps.iter().any(|m| m.name == name) {
            return Err(Error::new(
                Kind::NotFound,
                "map_btf",
                format!("{} has no map \"{name}\"", q(&self.path)),
            )
            .with_path(&self.path));
        }
        let ids = self.map_type_ids.iter().find(|(n, _, _)| n == name);
        let (Some((_, key, value)), Some(data)) = (ids, &self.btf_data) else {
            return Ok(serde_json::Value::Null);
        };
        if *key == 0 && *value == 0 {
            return Ok(serde_json::Value::Null);
        }
        let btf = crate::kernel::btf::RawBtf::parse(data.clone())?;
        Ok(serde_json::json!({
            "key": btf.describe(*key),
            "value": btf.describe(*value),
        }))
    }

    /// The bytes aya reads for a load of the programs in `sections`: the one
    /// place where the object's bytes are rewritten before aya sees them
    /// (see `sections.rs`).
    pub fn aya_bytes(&self, sections: &BTreeSet<usize>) -> Result<Vec<u8>> {
        for_aya(self.data.clone(), sections).map_err(|why| {
            Error::new(
                Kind::NotSupported,
                "load",
                format!("Cannot load programs of {}: {why}", q(&self.path)),
            )
            .with_path(&self.path)
        })
    }

    /// The program `name`, or an error naming the object's programs.
    pub fn program(&self, name: &str) -> Result<&ProgramSpec> {
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
                        "Object {} has no program \"{name}\" (it has: {})",
                        q(&self.path),
                        names.join(", ")
                    ),
                )
                .with_path(&self.path)
            })
    }

    /// The section the program `p` is in.
    pub fn section_of(&self, p: &ProgramSpec) -> &ProgSection {
        self.sections
            .iter()
            .find(|s| s.index == p.section_index)
            .expect("every program is in a program section")
    }
}

/// The kernel program type and attach type a section implies.
fn section_kind(s: &ProgramSection) -> (&'static str, Option<String>) {
    use ProgramSection as S;
    let lower = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
    match s {
        S::KProbe | S::KRetProbe | S::UProbe { .. } | S::URetProbe { .. } => ("kprobe", None),
        S::KProbeMulti { .. } => ("kprobe", Some("trace_kprobe_multi".into())),
        S::UProbeMulti { .. } => ("kprobe", Some("trace_uprobe_multi".into())),
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

/// The attach type libbpf gives a sched_cls section (its section_defs):
/// `tcx/ingress` and the deprecated `tc/ingress` are tcx ingress, and so on;
/// `tc` and `classifier` name none (the direction is given at attach).
fn classifier_attach_type(section: &str) -> Option<String> {
    Some(
        match section {
            "tcx/ingress" | "tc/ingress" => "tcx_ingress",
            "tcx/egress" | "tc/egress" => "tcx_egress",
            "netkit/primary" => "netkit_primary",
            "netkit/peer" => "netkit_peer",
            _ => return None,
        }
        .into(),
    )
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

/// The bytes aya reads, from an object's bytes as read, showing aya the
/// program sections in `shown`: every rewrite of an object's bytes before
/// aya sees them happens here, in order.
fn for_aya(data: Vec<u8>, shown: &BTreeSet<usize>) -> std::result::Result<Vec<u8>, String> {
    let data = sections::prepare(data, &|s| shown.contains(&s.index))?.data;
    Ok(data)
}

/// aya could not parse an object that is a BPF ELF file: say what it
/// refused, with its causes, and not that the file is no BPF object.
fn aya_parse_error(path: &Path, e: &aya_obj::ParseError) -> Error {
    let mut why = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        why = format!("{why}: {c}");
        cur = c.source();
    }
    Error::new(
        Kind::Elf,
        "parse",
        format!("Cannot read BPF object {}: aya 0.14 refused it: {why}", q(path)),
    )
    .with_path(path)
    .with_hint("the file is a BPF object, but uses something bpfx cannot read yet; `bpftool prog loadall` may load it")
}

/// The largest object bpfx reads unless told otherwise: 64 MiB (the biggest
/// BPF objects seen in the wild are a few MiB).
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 64 << 20;

/// Reads and parses `path`, at most [`DEFAULT_MAX_OBJECT_SIZE`] bytes.
pub fn parse_file(path: &Path) -> Result<Parsed> {
    parse_file_limited(path, DEFAULT_MAX_OBJECT_SIZE)
}

/// Reads and parses `path`, which must be a regular file of at most `max`
/// bytes.
pub fn parse_file_limited(path: &Path, max: u64) -> Result<Parsed> {
    let data = read_object(path, max)?;
    parse(path, data)
}

/// What the file at `path` is, for a message: "a FIFO", "a directory", ...
fn file_kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// The bytes of the object file at `path`: a regular file of at most `max`
/// bytes (see [`read_file`]).
pub fn read_object(path: &Path, max: u64) -> Result<Vec<u8>> {
    read_file(path, max, "BPF object", "raise the limit with --max-object-size (maxObjectSize in the API) if the object is genuine")
        .map_err(|e| match e.kind {
            Kind::Invalid if e.op == "open" && e.message.contains("not a regular file") => e.with_hint(
                "give the path of a BPF ELF object file (clang -target bpf -c ... -o x.bpf.o)",
            ),
            _ => e,
        })
}

/// The bytes of the file at `path` (`what` it is, for messages: "BPF
/// object", "binary"): a regular file (a FIFO or a device such as
/// `/dev/zero` is refused before anything is read, so it can neither hang
/// bpfx nor grow its memory) of at most `max` bytes (checked again while
/// reading, for a file that grows; `too_big_hint` says what to do).
pub fn read_file(path: &Path, max: u64, what: &str, too_big_hint: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let what = || format!("Cannot read {what} {}", q(path));
    // O_NONBLOCK: opening a FIFO with no writer would otherwise block.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| Error::io(what(), "open", &e).with_path(path))?;
    let meta = f
        .metadata()
        .map_err(|e| Error::io(what(), "fstat", &e).with_path(path))?;
    if !meta.file_type().is_file() {
        return Err(Error::invalid(
            "open",
            format!(
                "{}: it is {}, not a regular file",
                what(),
                file_kind(meta.file_type())
            ),
        )
        .with_path(path));
    }
    let too_big = |size: String| {
        Error::invalid(
            "open",
            format!(
                "{}: it is {size} bytes, over the limit of {max} bytes",
                what()
            ),
        )
        .with_path(path)
        .with_hint(too_big_hint)
    };
    if meta.len() > max {
        return Err(too_big(meta.len().to_string()));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    f.take(max.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| Error::io(what(), "read", &e).with_path(path))?;
    if data.len() as u64 > max {
        return Err(too_big(format!("more than {max}")));
    }
    Ok(data)
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
    sections::check_bounds(&data, DEFAULT_MAX_OBJECT_SIZE.max(data.len() as u64))
        .map_err(|why| elf_error(path, why))?;
    let sections = sections::scan(&data).map_err(|why| elf_error(path, why))?;
    // aya reads every section it can load but the `?` ones, whose names
    // may equal another's once the `?` is gone: what the spec needs of
    // those, bpfx reads itself.
    let shown: BTreeSet<usize> = sections
        .iter()
        .filter(|s| !s.optional)
        .map(|s| s.index)
        .collect();
    let bytes = for_aya(data.clone(), &shown)
        .and_then(sections::without_btf_ext)
        .map_err(|why| elf_error(path, why))?;
    let obj = Object::parse(&bytes).map_err(|e| aya_parse_error(path, &e))?;
    let section_name = |i: usize| {
        elf.section_by_index(object::SectionIndex(i))
            .ok()
            .and_then(|s| object::ObjectSection::name(&s).ok().map(String::from))
            .unwrap_or_default()
    };

    let mut programs = Vec::new();
    let linker = linker::Linker::new(&data).map_err(|why| elf_error(path, why))?;
    for sec in &sections {
        let listed = linker.programs_in(sec.index);
        let kind = ProgramSection::from_str(&sec.kind_name).ok();
        for (name, instructions) in listed {
            let (type_name, attach_type) = match (&kind, &sec.handling) {
                (Some(ProgramSection::SchedClassifier), _) => {
                    ("sched_cls", classifier_attach_type(&sec.kind_name))
                }
                (Some(k), _) => section_kind(k),
                (None, Handling::Syscall) => ("syscall", None),
                (None, _) => (
                    sections::libbpf_type(&sec.kind_name).unwrap_or("unknown"),
                    None,
                ),
            };
            let unsupported = match (&kind, &sec.handling) {
                (_, Handling::Unsupported(why)) => Some(why.clone()),
                (Some(ProgramSection::Extension), _) => Some(
                    "freplace programs need a target program, which `bpfx load` cannot name yet"
                        .into(),
                ),
                _ => None,
            };
            // Map use is read from the instructions; an object bpfx cannot
            // link (say, a call into nowhere) still lists its programs.
            let maps = linker
                .link(sec.index, &sec.name, &name)
                .map(|l| l.map_names().into_iter().collect())
                .unwrap_or_default();
            programs.push(ProgramSpec {
                attach_to: attach_to(&sec.kind_name),
                section: sec.name.clone(),
                type_name: type_name.into(),
                attach_type,
                instructions,
                autoload: !sec.optional,
                unsupported,
                maps,
                section_index: sec.index,
                name,
            });
        }
    }
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
        || sections.iter().any(|s| {
            matches!(
                ProgramSection::from_str(&s.kind_name),
                Ok(ProgramSection::Iter { .. }
                    | ProgramSection::FEntry { .. }
                    | ProgramSection::FExit { .. }
                    | ProgramSection::Lsm { .. }
                    | ProgramSection::LsmCgroup
                    | ProgramSection::BtfTracePoint)
            )
        });
    let map_type_ids = obj
        .maps
        .iter()
        .filter_map(|(name, m)| match m {
            aya_obj::maps::Map::Btf(b) => {
                Some((name.clone(), b.def.btf_key_type_id, b.def.btf_value_type_id))
            }
            aya_obj::maps::Map::Legacy(_) => None,
        })
        .collect();
    let btf_data = elf
        .section_by_name(".BTF")
        .and_then(|s| object::ObjectSection::data(&s).ok().map(<[u8]>::to_vec));
    let spec = ObjectSpec {
        path: path.display().to_string(),
        license: obj.license.to_string_lossy().into_owned(),
        kernel_version: obj.kernel_version,
        btf: obj.btf.is_some(),
        btf_ext: elf.section_by_name(".BTF.ext").is_some(),
        programs,
        maps,
    };
    Ok(Parsed {
        path: path.to_path_buf(),
        spec,
        data,
        map_type_ids,
        btf_data,
        sections,
        needs_kernel_btf,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fixture `make examples` builds from tests/bpf/NAME.c.
    pub fn fixture(name: &str) -> std::path::PathBuf {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../build/tests")
            .join(name);
        assert!(
            p.exists(),
            "{}: missing (run `make examples` first)",
            p.display()
        );
        p
    }

    #[test]
    fn map_btf_describes_a_maps_key_and_value_from_the_objects_btf() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/examples/maps.bpf.o");
        assert!(p.exists(), "{}: missing (run `make examples`)", p.display());
        let parsed = parse_file(&p).unwrap();
        let t = parsed.map_btf("flows").unwrap();
        assert_eq!(t["key"]["kind"], "struct");
        assert_eq!(t["key"]["size"], 16);
        assert_eq!(t["value"]["kind"], "struct");
        assert_eq!(parsed.map_btf("slots").unwrap()["key"]["kind"], "int");
        let e = parsed.map_btf("nope").unwrap_err();
        assert!(e.to_string().contains("has no map \"nope\""), "{e}");
    }

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
    fn a_bpf_object_aya_refuses_is_not_called_something_else() {
        let data = crate::object::sections::tests::elf(&[("license", 1, 0x2, b"GPL".to_vec())]);
        let e = parse(Path::new("/x.o"), data).err().unwrap();
        assert_eq!(e.kind, Kind::Elf);
        assert_eq!(
            e.message,
            "Cannot read BPF object \"/x.o\": aya 0.14 refused it: invalid license `[71, 80, 76]`: missing NULL terminator"
        );
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .starts_with("the file is a BPF object")
        );
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
