//! The targets of tracing links, from `struct bpf_link_info`: perf event
//! links (kprobe, uprobe, tracepoint, event), kprobe_multi and uprobe_multi.
//! Field names are bpftool's (`bpftool link show -j`), so scripts written
//! for one read the other.

use crate::error::Result;
use crate::kernel::info::{cstr_name, info_error};
use crate::sys::{self, get_u32, get_u64, put_u32, put_u64};
use serde_json::{Value, json};
use std::os::fd::BorrowedFd;

/// `enum bpf_perf_event_type`, by value.
const PERF_TYPES: [&str; 7] = [
    "unspec",
    "uprobe",
    "uretprobe",
    "kprobe",
    "kretprobe",
    "tracepoint",
    "event",
];

/// A perf event link's target.
pub fn perf_event(fd: BorrowedFd<'_>) -> Result<Value> {
    let mut name = [0u8; 4096];
    let mut buf = [0u8; 128];
    // Every member but `event` has its name buffer here (a pointer at 24,
    // its size at 32); the kernel overwrites them for an `event`.
    put_u64(&mut buf, 24, name.as_mut_ptr() as u64);
    put_u32(&mut buf, 32, name.len() as u32);
    sys::bpf_obj_get_info(fd, &mut buf).map_err(info_error)?;
    let type_ = get_u32(&buf, 16) as usize;
    let kind = PERF_TYPES.get(type_).copied().unwrap_or("unknown");
    let mut v = json!({ "perf_event_type": kind });
    match kind {
        "kprobe" | "kretprobe" => {
            v["retprobe"] = json!(kind == "kretprobe");
            v["func"] = json!(cstr_name(&name));
            v["offset"] = json!(get_u32(&buf, 36));
            v["addr"] = json!(get_u64(&buf, 40));
            v["missed"] = json!(get_u64(&buf, 48));
        }
        "uprobe" | "uretprobe" => {
            v["retprobe"] = json!(kind == "uretprobe");
            v["file"] = json!(cstr_name(&name));
            v["offset"] = json!(get_u32(&buf, 36));
        }
        "tracepoint" => v["tracepoint"] = json!(cstr_name(&name)),
        "event" => {
            // The type as the event has it now: recent kernels give
            // cpu-clock and task-clock PMUs of their own, whose types are
            // not PERF_TYPE_SOFTWARE and are shown as numbers.
            let (event_type, config) = (get_u32(&buf, 32), get_u64(&buf, 24));
            let named = EVENTS.iter().find(|(t, _, _)| *t == event_type);
            v["event_type"] = named.map_or(json!(event_type), |(_, n, _)| json!(n));
            v["event_config"] = named
                .and_then(|(_, _, names)| names.get(config as usize))
                .map_or(json!(config), |n| json!(n));
        }
        _ => {}
    }
    Ok(v)
}

/// The perf event types and configs bpfx names (`perf_event.h`).
pub const EVENTS: [(u32, &str, &[&str]); 2] = [
    (
        0,
        "hardware",
        &[
            "cpu-cycles",
            "instructions",
            "cache-references",
            "cache-misses",
            "branch-instructions",
            "branch-misses",
            "bus-cycles",
            "stalled-cycles-frontend",
            "stalled-cycles-backend",
            "ref-cycles",
        ],
    ),
    (
        1,
        "software",
        &[
            "cpu-clock",
            "task-clock",
            "page-faults",
            "context-switches",
            "cpu-migrations",
            "minor-faults",
            "major-faults",
            "alignment-faults",
            "emulation-faults",
            "dummy",
            "bpf-output",
        ],
    ),
];

/// A kprobe_multi link's functions, named from /proc/kallsyms.
pub fn kprobe_multi(fd: BorrowedFd<'_>, first: &[u8]) -> Result<Value> {
    let count = get_u32(first, 24);
    let flags = get_u32(first, 28);
    let mut addrs = vec![0u64; count as usize];
    if count > 0 {
        let mut buf = [0u8; 128];
        put_u64(&mut buf, 16, addrs.as_mut_ptr() as u64);
        put_u32(&mut buf, 24, count);
        sys::bpf_obj_get_info(fd, &mut buf).map_err(info_error)?;
    }
    let syms = kallsyms();
    let funcs: Vec<Value> = addrs
        .iter()
        .map(|&a| json!({ "addr": a, "func": name_at(&syms, a) }))
        .collect();
    Ok(json!({
        "retprobe": flags & 1 == 1,
        "func_cnt": count,
        "missed": get_u64(first, 32),
        "funcs": funcs,
    }))
}

/// The kernel's symbols by address, sorted (empty when unreadable).
fn kallsyms() -> Vec<(u64, String)> {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    let mut syms: Vec<(u64, String)> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let addr = u64::from_str_radix(it.next()?, 16).ok()?;
            let kind = it.next()?;
            let name = it.next()?;
            matches!(kind, "t" | "T").then(|| (addr, name.to_string()))
        })
        .collect();
    syms.sort();
    syms
}

/// The function at `addr`: the symbol at it, or just before it (an ftrace
/// entry may sit a few bytes into the function).
fn name_at(syms: &[(u64, String)], addr: u64) -> Option<String> {
    let i = syms.partition_point(|(a, _)| *a <= addr);
    let (a, name) = syms.get(i.checked_sub(1)?)?;
    (addr - a < 16 && *a != 0).then(|| name.clone())
}

/// A uprobe_multi link's file, process and offsets.
pub fn uprobe_multi(fd: BorrowedFd<'_>, _first: &[u8]) -> Result<Value> {
    let mut path = vec![0u8; 4096];
    let mut buf = [0u8; 128];
    put_u64(&mut buf, 16, path.as_mut_ptr() as u64);
    put_u32(&mut buf, 48, path.len() as u32);
    sys::bpf_obj_get_info(fd, &mut buf).map_err(info_error)?;
    let count = get_u32(&buf, 52);
    let mut offsets = vec![0u64; count as usize];
    let mut refs = vec![0u64; count as usize];
    let mut cookies = vec![0u64; count as usize];
    if count > 0 {
        let mut again = [0u8; 128];
        put_u64(&mut again, 24, offsets.as_mut_ptr() as u64);
        put_u64(&mut again, 32, refs.as_mut_ptr() as u64);
        put_u64(&mut again, 40, cookies.as_mut_ptr() as u64);
        put_u32(&mut again, 52, count);
        sys::bpf_obj_get_info(fd, &mut again).map_err(info_error)?;
    }
    let funcs: Vec<Value> = (0..count as usize)
        .map(|i| json!({ "offset": offsets[i], "ref_ctr_offset": refs[i], "cookie": cookies[i] }))
        .collect();
    Ok(json!({
        "retprobe": get_u32(&buf, 56) & 1 == 1,
        "path": cstr_name(&path),
        "func_cnt": count,
        "pid": get_u32(&buf, 60),
        "funcs": funcs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_the_function_at_or_just_before_them() {
        let syms = vec![(0x1000, "a".to_string()), (0x2000, "b".to_string())];
        assert_eq!(name_at(&syms, 0x1000).as_deref(), Some("a"));
        assert_eq!(name_at(&syms, 0x1004).as_deref(), Some("a"));
        assert_eq!(name_at(&syms, 0x1800), None);
        assert_eq!(name_at(&syms, 0x10), None);
    }
}
