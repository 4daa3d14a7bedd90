//! The raw calls behind single-target links: `BPF_LINK_CREATE` with the
//! parameters of each link type, `BPF_RAW_TRACEPOINT_OPEN`, and
//! `perf_event_open(2)` for kprobes, uprobes, tracepoints and perf events.
//!
//! Offsets follow `union bpf_attr`'s `link_create` and `raw_tracepoint`
//! members and `struct perf_event_attr` (include/uapi/linux/bpf.h and
//! perf_event.h).

use super::{
    ATTR_SIZE, BpfCmd, Call, SysResult, cpath, fd_result, named, put_u32, put_u64, syscall,
};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// What a `BPF_LINK_CREATE` carries after `attach_type` and `flags`.
#[derive(Debug, Clone, Copy)]
pub enum LinkExtra<'a> {
    None,
    /// `perf_event.bpf_cookie`.
    PerfEvent {
        cookie: u64,
    },
    /// `kprobe_multi`: the functions by name.
    KprobeMulti {
        retprobe: bool,
        syms: &'a [*const libc::c_char],
    },
    /// `uprobe_multi`: offsets in one file, for every process or one.
    UprobeMulti {
        retprobe: bool,
        path: &'a std::ffi::CStr,
        offsets: &'a [u64],
        pid: u32,
    },
    /// `netfilter`.
    Netfilter {
        pf: u32,
        hooknum: u32,
        priority: i32,
    },
}

/// `BPF_LINK_CREATE` of `prog` on `target` (an fd or an ifindex, by type).
pub fn bpf_link_create(
    prog: BorrowedFd<'_>,
    target: u32,
    attach_type: u32,
    flags: u32,
    extra: LinkExtra<'_>,
) -> SysResult<OwnedFd> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 4, target);
    put_u32(&mut attr, 8, attach_type);
    put_u32(&mut attr, 12, flags);
    match extra {
        LinkExtra::None => {}
        LinkExtra::PerfEvent { cookie } => put_u64(&mut attr, 16, cookie),
        LinkExtra::KprobeMulti { retprobe, syms } => {
            put_u32(&mut attr, 16, u32::from(retprobe)); // BPF_F_KPROBE_MULTI_RETURN
            put_u32(&mut attr, 20, syms.len() as u32);
            put_u64(&mut attr, 24, syms.as_ptr() as u64);
        }
        LinkExtra::UprobeMulti {
            retprobe,
            path,
            offsets,
            pid,
        } => {
            put_u64(&mut attr, 16, path.as_ptr() as u64);
            put_u64(&mut attr, 24, offsets.as_ptr() as u64);
            put_u32(&mut attr, 48, offsets.len() as u32);
            put_u32(&mut attr, 52, u32::from(retprobe)); // BPF_F_UPROBE_MULTI_RETURN
            put_u32(&mut attr, 56, pid);
        }
        LinkExtra::Netfilter {
            pf,
            hooknum,
            priority,
        } => {
            put_u32(&mut attr, 16, pf);
            put_u32(&mut attr, 20, hooknum);
            put_u32(&mut attr, 24, priority as u32);
        }
    }
    let fd = syscall(Call::Bpf {
        cmd: BpfCmd::LinkCreate,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// `BPF_F_REPLACE`: a `BPF_LINK_UPDATE` that moves the link only while it
/// still holds the old program given.
pub const BPF_F_REPLACE: u32 = 1 << 2;

/// `BPF_LINK_UPDATE`: moves `link` onto `prog` in one step, with no moment
/// where its hook is empty. With `old`, only while the link still holds that
/// program (`BPF_F_REPLACE`; else `EPERM`). Link types that cannot be moved
/// (perf events: kprobes, uprobes, tracepoints; tracing, raw tracepoint,
/// netfilter, kprobe_multi and uprobe_multi links) refuse with `EOPNOTSUPP`
/// or `EINVAL`.
pub fn bpf_link_update(
    link: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    old: Option<BorrowedFd<'_>>,
) -> SysResult<()> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, link.as_raw_fd() as u32);
    put_u32(&mut attr, 4, prog.as_raw_fd() as u32);
    if let Some(old) = old {
        put_u32(&mut attr, 8, BPF_F_REPLACE);
        put_u32(&mut attr, 12, old.as_raw_fd() as u32);
    }
    syscall(Call::Bpf {
        cmd: BpfCmd::LinkUpdate,
        attr: &mut attr,
    })?;
    Ok(())
}

/// `BPF_RAW_TRACEPOINT_OPEN`: a raw tracepoint link by name, or with no
/// name the link of a tracing program to the target it was loaded for
/// (fentry, fexit, fmod_ret, lsm, tp_btf).
pub fn bpf_raw_tracepoint_open(prog: BorrowedFd<'_>, name: Option<&str>) -> SysResult<OwnedFd> {
    let op = BpfCmd::RawTracepointOpen.name();
    let name = name.map(|n| cpath(Path::new(n), op)).transpose()?;
    let mut attr = [0u8; ATTR_SIZE];
    put_u64(&mut attr, 0, name.as_ref().map_or(0, |n| n.as_ptr() as u64));
    put_u32(&mut attr, 8, prog.as_raw_fd() as u32);
    let fd = syscall(Call::Bpf {
        cmd: BpfCmd::RawTracepointOpen,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// A perf event to open with [`perf_event_open`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PerfEventAttr {
    pub type_: u32,
    pub config: u64,
    /// `config1`: a kprobe's function or a uprobe's path, as a pointer.
    pub config1: u64,
    /// `config2`: a probe's offset.
    pub config2: u64,
    pub sample_period: u64,
    /// Take `sample_period` as a frequency (`attr.freq`).
    pub freq: bool,
}

/// `perf_event_open(2)` for `pid` (-1: every process) on `cpu` (-1: any),
/// close-on-exec. The event starts enabled.
pub fn perf_event_open(attr: &PerfEventAttr, pid: i32, cpu: i32) -> SysResult<OwnedFd> {
    // struct perf_event_attr, PERF_ATTR_SIZE_VER5 (112 bytes) and zeros.
    let mut buf = [0u8; 128];
    put_u32(&mut buf, 0, attr.type_);
    put_u32(&mut buf, 4, 128);
    put_u64(&mut buf, 8, attr.config);
    put_u64(&mut buf, 16, attr.sample_period);
    if attr.freq {
        put_u64(&mut buf, 40, 1 << 10); // the `freq` bit of the flags word
    }
    put_u64(&mut buf, 56, attr.config1);
    put_u64(&mut buf, 64, attr.config2);
    let ret = named("perf_event_open", || {
        // SAFETY: `buf` is a zeroed perf_event_attr of the size it states,
        // and the strings its configs point at outlive the call.
        unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                buf.as_ptr(),
                pid,
                cpu,
                -1 as libc::c_int,
                8 as libc::c_ulong, // PERF_FLAG_FD_CLOEXEC
            )
        }
    })?;
    Ok(fd_result(ret))
}

/// `if_nametoindex(3)`: the index of the interface `name` in this network
/// namespace.
pub fn if_nametoindex(name: &str) -> SysResult<u32> {
    let c = CString::new(name).map_err(|_| super::SysError {
        op: "if_nametoindex",
        error: std::io::Error::from_raw_os_error(libc::EINVAL),
    })?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let ret = named("if_nametoindex", || {
        match unsafe { libc::if_nametoindex(c.as_ptr()) } {
            0 => -1,
            n => i64::from(n),
        }
    })?;
    Ok(ret as u32)
}

/// `if_indextoname(3)`: the name of interface `index` in this network
/// namespace, or `None` when there is none.
pub fn if_indextoname(index: u32) -> Option<String> {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    let ret = named("if_indextoname", || {
        // SAFETY: `buf` holds IF_NAMESIZE bytes, as the call needs.
        let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr().cast()) };
        if p.is_null() { -1 } else { 0 }
    })
    .ok()?;
    let _ = ret;
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// The name of the BTF object `id` (`vmlinux`, or a module's name), by
/// `BPF_BTF_GET_FD_BY_ID` and its `struct bpf_btf_info`.
pub fn btf_name(id: u32) -> SysResult<String> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, id);
    let fd = fd_result(syscall(Call::Bpf {
        cmd: BpfCmd::BtfGetFdById,
        attr: &mut attr,
    })?);
    let mut name = [0u8; 64];
    let mut info = [0u8; 32];
    put_u64(&mut info, 16, name.as_mut_ptr() as u64);
    put_u32(&mut info, 24, name.len() as u32);
    super::bpf_obj_get_info(std::os::fd::AsFd::as_fd(&fd), &mut info)?;
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}
