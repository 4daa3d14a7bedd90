//! What the kernel says about a live object: its kind (program, map, link)
//! and `BPF_OBJ_GET_INFO_BY_FD`, decoded to JSON-ready structs.

use crate::error::{Error, Result};
use crate::kernel::names;
use crate::sys::{self, get_u32, get_u64};
use serde::Serialize;
use std::os::fd::BorrowedFd;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjKind {
    Prog,
    Map,
    Link,
}

impl ObjKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "prog" | "program" => Some(Self::Prog),
            "map" => Some(Self::Map),
            "link" => Some(Self::Link),
            _ => None,
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Self::Prog => "a program",
            Self::Map => "a map",
            Self::Link => "a link",
        }
    }
}

/// The kind of BPF object behind `fd`, from its anon inode's name.
pub fn kind_of(fd: BorrowedFd<'_>) -> Option<ObjKind> {
    let link = sys::fs::fd_name(fd).ok()?;
    match link.to_str()? {
        "anon_inode:bpf-prog" => Some(ObjKind::Prog),
        "anon_inode:bpf-map" => Some(ObjKind::Map),
        "anon_inode:bpf-link" | "anon_inode:bpf_link" => Some(ObjKind::Link),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgInfo {
    pub tag: String,
    pub load_time: Option<String>,
    pub map_ids: Vec<u32>,
    pub btf_id: u32,
    pub uid: u32,
    pub gpl_compatible: bool,
    pub xlated_bytes: u32,
    pub jited_bytes: u32,
    pub verified_insns: u32,
    pub attach_btf_id: u32,
    pub attach_btf_obj_id: u32,
    /// Nanoseconds run, counted while run-time stats are enabled.
    pub run_time_ns: u64,
    /// Runs, counted while run-time stats are enabled.
    pub run_cnt: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapInfo {
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkInfo {
    pub prog_id: u32,
    pub target: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Detail {
    Prog(ProgInfo),
    Map(MapInfo),
    Link(LinkInfo),
}

/// The kernel's information on one object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectInfo {
    pub path: Option<String>,
    pub kind: ObjKind,
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(skip)]
    pub type_num: u32,
    #[serde(flatten)]
    pub detail: Detail,
}

pub(crate) fn cstr_name(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

pub(crate) fn info_error(e: sys::SysError) -> Error {
    Error::sys("Cannot read the object's information", e)
}

/// Boot time in seconds since the epoch, for turning `load_time` into a date.
fn boot_time_secs() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

fn iso8601(ns_since_boot: u64) -> Option<String> {
    let boot = boot_time_secs()?;
    Some(civil(boot + ns_since_boot / 1_000_000_000))
}

/// Seconds since the epoch as an ISO 8601 UTC date.
fn civil(secs: u64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// A program's full name, as bpftool gives it: the name of the BTF `FUNC`
/// of its first func_info record, read through its BTF id. The kernel keeps
/// only 15 bytes of the name given at load (`BPF_OBJ_NAME_LEN`). `None`
/// when the program has no BTF, or its BTF cannot be read.
pub fn full_name(fd: BorrowedFd<'_>) -> Option<String> {
    let ty = sys::progs::first_func_type(fd).ok()??;
    // struct bpf_prog_info: btf_id at 128.
    let mut buf = [0u8; 232];
    sys::bpf_obj_get_info(fd, &mut buf).ok()?;
    let btf_fd = sys::maps::btf_fd_by_id(get_u32(&buf, 128)).ok()?;
    let data = sys::maps::btf_data(std::os::fd::AsFd::as_fd(&btf_fd)).ok()?;
    let btf = crate::kernel::btf::RawBtf::parse(data).ok()?;
    btf.name_of(ty).filter(|n| !n.is_empty()).map(String::from)
}

fn prog_info(fd: BorrowedFd<'_>) -> Result<ObjectInfo> {
    let mut buf = [0u8; 232];
    sys::bpf_obj_get_info(fd, &mut buf).map_err(info_error)?;
    let nr_map_ids = get_u32(&buf, 52) as usize;
    let mut map_ids = vec![0u32; nr_map_ids];
    if nr_map_ids > 0 {
        let mut again = [0u8; 232];
        again[52..56].copy_from_slice(&(nr_map_ids as u32).to_ne_bytes());
        again[56..64].copy_from_slice(&(map_ids.as_mut_ptr() as u64).to_ne_bytes());
        sys::bpf_obj_get_info(fd, &mut again).map_err(info_error)?;
        let got = (get_u32(&again, 52) as usize).min(nr_map_ids);
        map_ids.truncate(got);
    }
    let load_time = get_u64(&buf, 40);
    let type_num = get_u32(&buf, 0);
    let kernel_name = cstr_name(&buf[64..80]);
    // The BTF name is the full one only when it begins as the kernel's does
    // (a program loaded without BTF names of its own keeps the kernel's).
    let name = full_name(fd)
        .filter(|n| n.starts_with(&kernel_name))
        .unwrap_or(kernel_name);
    Ok(ObjectInfo {
        path: None,
        kind: ObjKind::Prog,
        id: get_u32(&buf, 4),
        name,
        type_name: names::prog_type(type_num),
        type_num,
        detail: Detail::Prog(ProgInfo {
            tag: buf[8..16].iter().map(|b| format!("{b:02x}")).collect(),
            load_time: if load_time == 0 {
                None
            } else {
                iso8601(load_time)
            },
            map_ids,
            btf_id: get_u32(&buf, 128),
            uid: get_u32(&buf, 48),
            gpl_compatible: get_u32(&buf, 84) & 1 == 1,
            xlated_bytes: get_u32(&buf, 20),
            jited_bytes: get_u32(&buf, 16),
            verified_insns: get_u32(&buf, 216),
            attach_btf_obj_id: get_u32(&buf, 220),
            attach_btf_id: get_u32(&buf, 224),
            run_time_ns: get_u64(&buf, 192),
            run_cnt: get_u64(&buf, 200),
        }),
    })
}

fn map_info(fd: BorrowedFd<'_>) -> Result<ObjectInfo> {
    let mut buf = [0u8; 88];
    sys::bpf_obj_get_info(fd, &mut buf).map_err(info_error)?;
    let type_num = get_u32(&buf, 0);
    Ok(ObjectInfo {
        path: None,
        kind: ObjKind::Map,
        id: get_u32(&buf, 4),
        name: cstr_name(&buf[24..40]),
        type_name: names::map_type(type_num),
        type_num,
        detail: Detail::Map(MapInfo {
            key_size: get_u32(&buf, 8),
            value_size: get_u32(&buf, 12),
            max_entries: get_u32(&buf, 16),
            flags: get_u32(&buf, 20),
            btf_id: get_u32(&buf, 64),
            btf_key_type_id: get_u32(&buf, 68),
            btf_value_type_id: get_u32(&buf, 72),
        }),
    })
}

/// The link's target, by link type. Field offsets follow `struct bpf_link_info`.
fn link_target(fd: BorrowedFd<'_>, link_type: u32, buf: &[u8]) -> Result<serde_json::Value> {
    use serde_json::json;
    Ok(match names::link_type(link_type).as_str() {
        "iter" => {
            // Ask again with a buffer for the target's name.
            let mut name = [0u8; 64];
            let mut again = [0u8; 128];
            again[16..24].copy_from_slice(&(name.as_mut_ptr() as u64).to_ne_bytes());
            again[24..28].copy_from_slice(&(name.len() as u32).to_ne_bytes());
            sys::bpf_obj_get_info(fd, &mut again).map_err(info_error)?;
            let target = cstr_name(&name);
            let mut v = json!({ "iter": target });
            match target.as_str() {
                "bpf_map_elem" | "bpf_sk_storage_map" | "sockmap" => {
                    v["mapId"] = json!(get_u32(&again, 28));
                }
                "cgroup" => {
                    const ORDERS: [&str; 5] = [
                        "unspec",
                        "self",
                        "descendants-pre",
                        "descendants-post",
                        "ancestors-up",
                    ];
                    let order = get_u32(&again, 40) as usize;
                    v["cgroupId"] = json!(get_u64(&again, 32));
                    v["order"] = json!(ORDERS.get(order).copied().unwrap_or("unknown"));
                }
                "task" | "task_file" | "task_vma" => {
                    v["tid"] = json!(get_u32(&again, 32));
                    v["pid"] = json!(get_u32(&again, 36));
                }
                _ => {}
            }
            v
        }
        "cgroup" => json!({
            "cgroupId": get_u64(buf, 16),
            "attachType": names::attach_type(get_u32(buf, 24)),
        }),
        "tracing" => json!({
            "attachType": names::attach_type(get_u32(buf, 16)),
            "targetObjId": get_u32(buf, 20),
            "targetBtfId": get_u32(buf, 24),
        }),
        "netns" => json!({
            "netnsIno": get_u32(buf, 16),
            "attachType": names::attach_type(get_u32(buf, 20)),
        }),
        "xdp" => with_devname(json!({ "ifindex": get_u32(buf, 16) })),
        "struct_ops" => json!({ "mapId": get_u32(buf, 16) }),
        "tcx" | "netkit" => with_devname(json!({
            "ifindex": get_u32(buf, 16),
            "attachType": names::attach_type(get_u32(buf, 20)),
        })),
        "raw_tracepoint" => {
            let mut name = [0u8; 256];
            let mut again = [0u8; 128];
            again[16..24].copy_from_slice(&(name.as_mut_ptr() as u64).to_ne_bytes());
            again[24..28].copy_from_slice(&(name.len() as u32).to_ne_bytes());
            sys::bpf_obj_get_info(fd, &mut again).map_err(info_error)?;
            json!({ "tp_name": cstr_name(&name) })
        }
        "netfilter" => json!({
            "pf": get_u32(buf, 16),
            "hook": get_u32(buf, 20),
            "prio": get_u32(buf, 24) as i32,
            "flags": get_u32(buf, 28),
        }),
        "perf_event" => crate::kernel::link_info::perf_event(fd)?,
        "kprobe_multi" => crate::kernel::link_info::kprobe_multi(fd, buf)?,
        "uprobe_multi" => crate::kernel::link_info::uprobe_multi(fd, buf)?,
        _ => json!({}),
    })
}

/// Adds `devname`, the name of `ifindex` in this network namespace (as
/// bpftool gives it), when there is an interface of that index here.
fn with_devname(mut v: serde_json::Value) -> serde_json::Value {
    let index = v["ifindex"].as_u64().unwrap_or(0) as u32;
    if let Some(name) = sys::links::if_indextoname(index) {
        v["devname"] = serde_json::json!(name);
    }
    v
}

fn link_info(fd: BorrowedFd<'_>) -> Result<ObjectInfo> {
    let mut buf = [0u8; 128];
    sys::bpf_obj_get_info(fd, &mut buf).map_err(info_error)?;
    let type_num = get_u32(&buf, 0);
    let target = link_target(fd, type_num, &buf)?;
    Ok(ObjectInfo {
        path: None,
        kind: ObjKind::Link,
        id: get_u32(&buf, 4),
        name: String::new(),
        type_name: names::link_type(type_num),
        type_num,
        detail: Detail::Link(LinkInfo {
            prog_id: get_u32(&buf, 8),
            target,
        }),
    })
}

/// The information on the object behind `fd`, of the given kind.
pub fn info_of_kind(fd: BorrowedFd<'_>, kind: ObjKind) -> Result<ObjectInfo> {
    match kind {
        ObjKind::Prog => prog_info(fd),
        ObjKind::Map => map_info(fd),
        ObjKind::Link => link_info(fd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;
    use std::os::fd::AsFd;

    #[test]
    fn civil_formats_known_instants() {
        assert_eq!(civil(0), "1970-01-01T00:00:00Z");
        assert_eq!(civil(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(civil(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(cstr_name(b"abc\0\0\0"), "abc");
        assert_eq!(cstr_name(b"abcdef"), "abcdef");
    }

    #[test]
    fn info_maps_get_info_failure_to_an_error_with_the_op() {
        let _g = crate::sys::fake::install(|c| match c {
            crate::sys::Call::Bpf {
                cmd: crate::sys::BpfCmd::ObjGetInfoByFd,
                ..
            } => crate::sys::fake::errno(libc::EBADF),
            _ => None,
        });
        let f = std::fs::File::open("/dev/null").unwrap();
        let e = info_of_kind(f.as_fd(), ObjKind::Map).unwrap_err();
        assert_eq!(e.op, "BPF_OBJ_GET_INFO_BY_FD");
        assert_eq!(e.errno, libc::EBADF);
        assert_eq!(e.kind, Kind::Os);
    }
}
