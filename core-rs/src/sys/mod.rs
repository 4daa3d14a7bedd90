//! Every raw syscall bpfx makes, and nothing else.
//!
//! aya covers ELF loading, program loading and pinning. What it lacks (object
//! info by fd for any kind, `BPF_OBJ_GET` with flags, iterator links with
//! parameters, mounts, `statfs`, fanotify) is here. Each call goes through
//! [`syscall`], which unit tests can replace with a fake (see [`fake`]) so the
//! error mapping above is checked without root.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

pub mod fake;
pub mod fs;
pub mod links;
pub mod maps;
pub mod ns;
pub mod progs;

/// The bpf(2) commands bpfx uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum BpfCmd {
    MapCreate = 0,
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    MapGetNextKey = 4,
    MapLookupAndDeleteElem = 21,
    MapLookupBatch = 24,
    MapLookupAndDeleteBatch = 25,
    MapUpdateBatch = 26,
    MapDeleteBatch = 27,
    BtfGetFdById = 19,
    BtfLoad = 18,
    ProgTestRun = 10,
    ProgGetFdById = 13,
    ProgLoad = 5,
    ObjPin = 6,
    ObjGet = 7,
    ObjGetInfoByFd = 15,
    LinkCreate = 28,
    LinkUpdate = 29,
    RawTracepointOpen = 17,
    ProgGetNextId = 11,
    MapGetNextId = 12,
    MapGetFdById = 14,
    LinkGetFdById = 30,
    LinkGetNextId = 31,
    EnableStats = 32,
}

impl BpfCmd {
    /// The UAPI name, as errors report it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::MapCreate => "BPF_MAP_CREATE",
            Self::MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            Self::MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            Self::MapDeleteElem => "BPF_MAP_DELETE_ELEM",
            Self::MapGetNextKey => "BPF_MAP_GET_NEXT_KEY",
            Self::MapLookupAndDeleteElem => "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
            Self::MapLookupBatch => "BPF_MAP_LOOKUP_BATCH",
            Self::MapLookupAndDeleteBatch => "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
            Self::MapUpdateBatch => "BPF_MAP_UPDATE_BATCH",
            Self::MapDeleteBatch => "BPF_MAP_DELETE_BATCH",
            Self::BtfGetFdById => "BPF_BTF_GET_FD_BY_ID",
            Self::BtfLoad => "BPF_BTF_LOAD",
            Self::ProgTestRun => "BPF_PROG_TEST_RUN",
            Self::ProgGetFdById => "BPF_PROG_GET_FD_BY_ID",
            Self::ProgLoad => "BPF_PROG_LOAD",
            Self::ObjPin => "BPF_OBJ_PIN",
            Self::ObjGet => "BPF_OBJ_GET",
            Self::ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            Self::LinkCreate => "BPF_LINK_CREATE",
            Self::LinkUpdate => "BPF_LINK_UPDATE",
            Self::RawTracepointOpen => "BPF_RAW_TRACEPOINT_OPEN",
            Self::ProgGetNextId => "BPF_PROG_GET_NEXT_ID",
            Self::MapGetNextId => "BPF_MAP_GET_NEXT_ID",
            Self::MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            Self::LinkGetFdById => "BPF_LINK_GET_FD_BY_ID",
            Self::LinkGetNextId => "BPF_LINK_GET_NEXT_ID",
            Self::EnableStats => "BPF_ENABLE_STATS",
        }
    }
}

/// One raw call, described so that a fake can answer it.
#[derive(Debug)]
pub enum Call<'a> {
    Bpf {
        cmd: BpfCmd,
        attr: &'a mut [u8],
    },
    Statfs {
        path: &'a CStr,
    },
    Mount {
        source: &'a CStr,
        target: &'a CStr,
        fstype: &'a CStr,
        data: &'a CStr,
    },
    Umount {
        target: &'a CStr,
        flags: i32,
    },
    FanotifyInit {
        flags: u32,
        event_flags: u32,
    },
    FanotifyMark {
        fd: i32,
        flags: u32,
        mask: u64,
        path: &'a CStr,
    },
    /// Any other call, named; see [`named`].
    Named {
        op: &'static str,
    },
}

impl Call<'_> {
    /// The name errors use for this call.
    pub fn op(&self) -> &'static str {
        match self {
            Call::Bpf { cmd, .. } => cmd.name(),
            Call::Statfs { .. } => "statfs",
            Call::Mount { .. } => "mount",
            Call::Umount { .. } => "umount2",
            Call::FanotifyInit { .. } => "fanotify_init",
            Call::FanotifyMark { .. } => "fanotify_mark",
            Call::Named { op } => op,
        }
    }
}

/// A failed syscall: which one, and the errno it returned.
#[derive(Debug)]
pub struct SysError {
    pub op: &'static str,
    pub error: io::Error,
}

impl SysError {
    pub fn errno(&self) -> i32 {
        self.error.raw_os_error().unwrap_or(0)
    }
}

pub type SysResult<T> = Result<T, SysError>;

/// Makes one raw call: the fake's answer under test, the kernel's otherwise.
/// Returns the call's non-negative result.
pub fn syscall(call: Call<'_>) -> SysResult<i64> {
    let op = call.op();
    if let Some(answer) = fake::answer(&call) {
        return answer.map_err(|error| SysError { op, error });
    }
    // SAFETY: every arm passes pointers that outlive the call and sizes that
    // match the buffers they describe.
    let ret: i64 = unsafe {
        match call {
            Call::Bpf { cmd, attr } => libc::syscall(
                libc::SYS_bpf,
                cmd as u32 as libc::c_long,
                attr.as_mut_ptr(),
                attr.len() as libc::c_long,
            ),
            Call::Statfs { path } => {
                let mut buf: libc::statfs = std::mem::zeroed();
                let r = libc::statfs(path.as_ptr(), &mut buf);
                if r == 0 { buf.f_type as i64 } else { -1 }
            }
            Call::Mount {
                source,
                target,
                fstype,
                data,
            } => libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            ) as i64,
            Call::Umount { target, flags } => libc::umount2(target.as_ptr(), flags) as i64,
            Call::FanotifyInit { flags, event_flags } => {
                libc::fanotify_init(flags, event_flags) as i64
            }
            Call::FanotifyMark {
                fd,
                flags,
                mask,
                path,
            } => libc::fanotify_mark(fd, flags, mask, libc::AT_FDCWD, path.as_ptr()) as i64,
            Call::Named { op } => unreachable!("{op} goes through sys::named"),
        }
    };
    if ret < 0 {
        Err(SysError {
            op,
            error: io::Error::last_os_error(),
        })
    } else {
        Ok(ret)
    }
}

/// Makes the call `f` performs, named `op` so that a fake can answer it
/// instead. `f` returns the raw result (negative on failure, with errno set).
pub fn named(op: &'static str, f: impl FnOnce() -> i64) -> SysResult<i64> {
    if let Some(answer) = fake::answer(&Call::Named { op }) {
        return answer.map_err(|error| SysError { op, error });
    }
    let ret = f();
    if ret < 0 {
        Err(SysError {
            op,
            error: io::Error::last_os_error(),
        })
    } else {
        Ok(ret)
    }
}

pub(crate) fn cpath(path: &Path, op: &'static str) -> SysResult<CString> {
    use std::os::unix::ffi::OsStrExt as _;
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SysError {
        op,
        error: io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
    })
}

pub(crate) fn put_u32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

pub(crate) fn put_u64(buf: &mut [u8], off: usize, v: u64) {
    buf[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

pub fn get_u32(buf: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes"))
}

pub fn get_u64(buf: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(buf[off..off + 8].try_into().expect("8 bytes"))
}

/// The size of `union bpf_attr` we send: large enough for every command used.
pub(crate) const ATTR_SIZE: usize = 144;

pub(crate) fn fd_result(ret: i64) -> OwnedFd {
    // SAFETY: a successful bpf(2) call that creates an object returns a new fd
    // that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(ret as i32) }
}

/// `BPF_OBJ_GET`: opens a pinned object read-write (the kernel's default).
pub fn bpf_obj_get(path: &Path) -> SysResult<OwnedFd> {
    let cpath = cpath(path, BpfCmd::ObjGet.name())?;
    let mut attr = [0u8; ATTR_SIZE];
    put_u64(&mut attr, 0, cpath.as_ptr() as u64);
    let fd = syscall(Call::Bpf {
        cmd: BpfCmd::ObjGet,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// `BPF_*_GET_FD_BY_ID` (`cmd`): a new fd for the object with that id.
pub(crate) fn fd_by_id(cmd: BpfCmd, id: u32) -> SysResult<OwnedFd> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, id);
    let fd = syscall(Call::Bpf {
        cmd,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// `BPF_{PROG,MAP,LINK}_GET_NEXT_ID` (`cmd`): the id after `start` of the
/// objects of its kind on the host, or `None` past the last.
pub fn next_id(cmd: BpfCmd, start: u32) -> SysResult<Option<u32>> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, start);
    match syscall(Call::Bpf {
        cmd,
        attr: &mut attr,
    }) {
        Ok(_) => Ok(Some(get_u32(&attr, 4))),
        Err(e) if e.errno() == libc::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_ENABLE_STATS` with `BPF_STATS_RUN_TIME`: the kernel counts each
/// program's run time and runs while the returned fd is open.
pub fn enable_run_time_stats() -> SysResult<OwnedFd> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, 0); // BPF_STATS_RUN_TIME
    let fd = syscall(Call::Bpf {
        cmd: BpfCmd::EnableStats,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// `BPF_OBJ_PIN`: pins the object behind `fd` at `path`.
pub fn bpf_obj_pin(fd: BorrowedFd<'_>, path: &Path) -> SysResult<()> {
    let cpath = cpath(path, BpfCmd::ObjPin.name())?;
    let mut attr = [0u8; ATTR_SIZE];
    put_u64(&mut attr, 0, cpath.as_ptr() as u64);
    put_u32(&mut attr, 8, fd.as_raw_fd() as u32);
    syscall(Call::Bpf {
        cmd: BpfCmd::ObjPin,
        attr: &mut attr,
    })?;
    Ok(())
}

const BPF_F_PATH_FD: u32 = 1 << 14;

/// `BPF_OBJ_GET` of `name` relative to the directory `dir` (`BPF_F_PATH_FD`).
pub fn bpf_obj_get_at(dir: BorrowedFd<'_>, name: &Path) -> SysResult<OwnedFd> {
    let cpath = cpath(name, BpfCmd::ObjGet.name())?;
    let mut attr = [0u8; ATTR_SIZE];
    put_u64(&mut attr, 0, cpath.as_ptr() as u64);
    put_u32(&mut attr, 12, BPF_F_PATH_FD);
    put_u32(&mut attr, 16, dir.as_raw_fd() as u32);
    let fd = syscall(Call::Bpf {
        cmd: BpfCmd::ObjGet,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// `BPF_OBJ_PIN` of `fd` at `name` relative to the directory `dir`.
pub fn bpf_obj_pin_at(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &Path) -> SysResult<()> {
    let cpath = cpath(name, BpfCmd::ObjPin.name())?;
    let mut attr = [0u8; ATTR_SIZE];
    put_u64(&mut attr, 0, cpath.as_ptr() as u64);
    put_u32(&mut attr, 8, fd.as_raw_fd() as u32);
    put_u32(&mut attr, 12, BPF_F_PATH_FD);
    put_u32(&mut attr, 16, dir.as_raw_fd() as u32);
    syscall(Call::Bpf {
        cmd: BpfCmd::ObjPin,
        attr: &mut attr,
    })?;
    Ok(())
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `info`; returns how many bytes the kernel wrote.
pub fn bpf_obj_get_info(fd: BorrowedFd<'_>, info: &mut [u8]) -> SysResult<usize> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, fd.as_raw_fd() as u32);
    put_u32(&mut attr, 4, info.len() as u32);
    put_u64(&mut attr, 8, info.as_mut_ptr() as u64);
    syscall(Call::Bpf {
        cmd: BpfCmd::ObjGetInfoByFd,
        attr: &mut attr,
    })?;
    Ok(get_u32(&attr, 4) as usize)
}

/// `BPF_MAP_CREATE` of a small unnamed map, for probes.
pub fn bpf_map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> SysResult<OwnedFd> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, map_type);
    put_u32(&mut attr, 4, key_size);
    put_u32(&mut attr, 8, value_size);
    put_u32(&mut attr, 12, max_entries);
    let fd = syscall(Call::Bpf {
        cmd: BpfCmd::MapCreate,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// A program to load with [`bpf_prog_load`].
pub struct ProgLoad<'a> {
    pub prog_type: u32,
    pub insns: &'a [u64],
    pub license: &'a CStr,
    pub expected_attach_type: u32,
    pub attach_btf_id: u32,
    /// A buffer for the verifier's log (level 1), or empty for none.
    pub log: &'a mut [u8],
}

/// `BPF_PROG_LOAD` of a small program, for probes. With a log buffer, the
/// kernel writes the verifier's log there (NUL-terminated).
pub fn bpf_prog_load(p: &mut ProgLoad<'_>) -> SysResult<OwnedFd> {
    progs::prog_load(&mut progs::FullProgLoad {
        prog_type: p.prog_type,
        insns: p.insns,
        license: p.license,
        name: b"",
        prog_flags: 0,
        expected_attach_type: p.expected_attach_type,
        attach_btf_id: p.attach_btf_id,
        btf_fd: None,
        func_info: &[],
        line_info: &[],
        log: p.log,
    })
}

/// The parameters of an iterator link (`union bpf_iter_link_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IterParams {
    None,
    Map {
        map_fd: i32,
    },
    Cgroup {
        order: u32,
        cgroup_fd: i32,
        cgroup_id: u64,
    },
    Task {
        tid: u32,
        pid: u32,
        pid_fd: i32,
    },
}

/// `BPF_LINK_CREATE` of an iterator link (`BPF_TRACE_ITER`) with parameters.
pub fn bpf_link_create_iter(prog: BorrowedFd<'_>, params: IterParams) -> SysResult<OwnedFd> {
    const BPF_TRACE_ITER: u32 = 28;
    let mut info = [0u8; 16];
    match params {
        IterParams::None => {}
        IterParams::Map { map_fd } => put_u32(&mut info, 0, map_fd as u32),
        IterParams::Cgroup {
            order,
            cgroup_fd,
            cgroup_id,
        } => {
            put_u32(&mut info, 0, order);
            put_u32(&mut info, 4, cgroup_fd as u32);
            put_u64(&mut info, 8, cgroup_id);
        }
        IterParams::Task { tid, pid, pid_fd } => {
            put_u32(&mut info, 0, tid);
            put_u32(&mut info, 4, pid);
            put_u32(&mut info, 8, pid_fd as u32);
        }
    }
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 8, BPF_TRACE_ITER);
    if params != IterParams::None {
        put_u64(&mut attr, 16, info.as_ptr() as u64);
        put_u32(&mut attr, 24, info.len() as u32);
    }
    let fd = syscall(Call::Bpf {
        cmd: BpfCmd::LinkCreate,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// `statfs(2)`: the filesystem magic of `path`.
pub fn fs_magic(path: &Path) -> SysResult<i64> {
    let cpath = cpath(path, "statfs")?;
    syscall(Call::Statfs { path: &cpath })
}

/// `mount(2)` of a new filesystem (no flags).
pub fn mount_fs(fstype: &str, target: &Path, data: &str) -> SysResult<()> {
    let target = cpath(target, "mount")?;
    let source = CString::new(fstype).expect("fs type has no NUL");
    let data = CString::new(data).expect("mount data has no NUL");
    syscall(Call::Mount {
        source: &source,
        target: &target,
        fstype: &source,
        data: &data,
    })?;
    Ok(())
}

/// `umount2(2)`.
pub fn umount(target: &Path, detach: bool) -> SysResult<()> {
    let target = cpath(target, "umount2")?;
    let flags = if detach { libc::MNT_DETACH } else { 0 };
    syscall(Call::Umount {
        target: &target,
        flags,
    })?;
    Ok(())
}

/// `fanotify_init(2)`.
pub fn fanotify_init(flags: u32, event_flags: u32) -> SysResult<OwnedFd> {
    let fd = syscall(Call::FanotifyInit { flags, event_flags })?;
    Ok(fd_result(fd))
}

/// `fanotify_mark(2)` on a path.
pub fn fanotify_mark(fd: BorrowedFd<'_>, flags: u32, mask: u64, path: &Path) -> SysResult<()> {
    let cpath = cpath(path, "fanotify_mark")?;
    syscall(Call::FanotifyMark {
        fd: fd.as_raw_fd(),
        flags,
        mask,
        path: &cpath,
    })?;
    Ok(())
}
