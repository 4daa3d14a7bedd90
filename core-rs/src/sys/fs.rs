//! File and mount calls that must not follow symlinks or race: `openat2`
//! with `RESOLVE_NO_SYMLINKS`, `*at` calls on a directory fd, the new mount
//! API, fanotify reads, eventfd and poll, and `flock`.

use super::{SysError, SysResult, cpath, fd_result, named};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cname(name: &(impl AsRef<OsStr> + ?Sized), op: &'static str) -> SysResult<CString> {
    CString::new(name.as_ref().as_bytes()).map_err(|_| SysError {
        op,
        error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "name contains a NUL byte"),
    })
}

/// Opens directory `path` as an `O_PATH` fd, refusing any symlink on the way
/// (`openat2` with `RESOLVE_NO_SYMLINKS`).
pub fn open_dir_nofollow(path: &Path) -> SysResult<OwnedFd> {
    let c = cpath(path, "openat2")?;
    openat2_raw(
        libc::AT_FDCWD,
        &c,
        libc::O_PATH | libc::O_DIRECTORY,
        libc::RESOLVE_NO_SYMLINKS,
    )
}

fn openat2_raw(dir: i32, c: &CString, flags: i32, resolve: u64) -> SysResult<OwnedFd> {
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    let fd = named("openat2", || {
        // SAFETY: valid path and open_how for the duration of the call.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        }
    })?;
    Ok(fd_result(fd))
}

/// `openat2(dir, path, flags, resolve)`; `dir` `None` is the current
/// directory (for absolute paths).
pub fn openat2(
    dir: Option<BorrowedFd<'_>>,
    path: &Path,
    flags: i32,
    resolve: u64,
) -> SysResult<OwnedFd> {
    let c = cpath(path, "openat2")?;
    openat2_raw(
        dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd()),
        &c,
        flags,
        resolve,
    )
}

/// `openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, mode)`.
pub fn open_at(
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
    flags: i32,
    mode: u32,
) -> SysResult<OwnedFd> {
    let n = cname(name, "openat")?;
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid C string and fd.
    let fd = named("openat", || unsafe {
        libc::openat(dir.as_raw_fd(), n.as_ptr(), flags, mode) as i64
    })?;
    Ok(fd_result(fd))
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdir_at(
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
    mode: u32,
) -> SysResult<()> {
    let n = cname(name, "mkdirat")?;
    // SAFETY: valid C string and fd.
    named("mkdirat", || unsafe {
        libc::mkdirat(dir.as_raw_fd(), n.as_ptr(), mode) as i64
    })?;
    Ok(())
}

/// `unlinkat(dir, name, AT_REMOVEDIR)`: removes an empty directory.
pub fn rmdir_at(dir: BorrowedFd<'_>, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<()> {
    let n = cname(name, "rmdir")?;
    // SAFETY: valid C string and fd.
    named("rmdir", || unsafe {
        libc::unlinkat(dir.as_raw_fd(), n.as_ptr(), libc::AT_REMOVEDIR) as i64
    })?;
    Ok(())
}

/// `readlinkat(dir, name)`.
pub fn readlink_at(
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
) -> SysResult<std::path::PathBuf> {
    readlink_raw(dir.as_raw_fd(), name)
}

/// What `/proc/self/fd/N` says of bpfx's own `fd`: the path it was opened
/// by, or an anon inode's name (`anon_inode:bpf-map`). The kernel makes that
/// link; no one else can change it.
pub fn fd_name(fd: BorrowedFd<'_>) -> SysResult<std::path::PathBuf> {
    readlink_raw(libc::AT_FDCWD, &format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn readlink_raw(dir: i32, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt as _;
    let n = cname(name, "readlinkat")?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: valid C string, fd and buffer.
    let len = named("readlinkat", || unsafe {
        libc::readlinkat(dir, n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) as i64
    })? as usize;
    buf.truncate(len);
    Ok(std::ffi::OsString::from_vec(buf).into())
}

/// `renameat(dir, from, dir, to)`: replaces `to` atomically.
pub fn rename_at(dir: BorrowedFd<'_>, from: &str, to: &str) -> SysResult<()> {
    let f = cname(from, "renameat")?;
    let t = cname(to, "renameat")?;
    // SAFETY: valid C strings and fd.
    named("renameat", || unsafe {
        libc::renameat(dir.as_raw_fd(), f.as_ptr(), dir.as_raw_fd(), t.as_ptr()) as i64
    })?;
    Ok(())
}

/// `renameat2(from_dir, from, to_dir, to, flags)`: moves `from` to `to`
/// between two directories of one filesystem in one step; with
/// `RENAME_NOREPLACE` (`noreplace`) an existing `to` is refused (`EEXIST`),
/// else it is replaced atomically.
pub fn rename2_at(
    from_dir: BorrowedFd<'_>,
    from: &str,
    to_dir: BorrowedFd<'_>,
    to: &str,
    noreplace: bool,
) -> SysResult<()> {
    let f = cname(from, "renameat2")?;
    let t = cname(to, "renameat2")?;
    let flags = if noreplace { libc::RENAME_NOREPLACE } else { 0 };
    // SAFETY: valid C strings and fds.
    named("renameat2", || unsafe {
        libc::renameat2(
            from_dir.as_raw_fd(),
            f.as_ptr(),
            to_dir.as_raw_fd(),
            t.as_ptr(),
            flags,
        ) as i64
    })?;
    Ok(())
}

/// What `statx` tells bpfx about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub ino: u64,
    pub dev: u64,
    pub size: u64,
    /// Modification time, in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// The mount's id, as `/proc/self/mountinfo` gives it (reused after an
    /// unmount).
    pub mnt_id: u64,
    /// The mount's unique id (never reused), where the kernel has it (6.8+).
    pub mnt_id_unique: Option<u64>,
}

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }
}

fn statx_raw(dir: i32, n: &CString, flags: i32, mask: u32) -> SysResult<libc::statx> {
    // SAFETY: statx is plain data; zeroed is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string, fd and buffer.
    named("statx", || unsafe {
        libc::statx(dir, n.as_ptr(), flags, mask, &mut st) as i64
    })?;
    Ok(st)
}

/// `statx(dir, name, AT_SYMLINK_NOFOLLOW)`; an empty `name` is `dir` itself.
pub fn stat_at(dir: BorrowedFd<'_>, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<Stat> {
    let n = cname(name, "statx")?;
    let mut flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_SYNC_AS_STAT;
    if name.as_ref().is_empty() {
        flags |= libc::AT_EMPTY_PATH;
    }
    let base = libc::STATX_BASIC_STATS;
    let st = statx_raw(dir.as_raw_fd(), &n, flags, base | libc::STATX_MNT_ID_UNIQUE)?;
    let unique = st.stx_mask & libc::STATX_MNT_ID_UNIQUE != 0;
    // The unique id replaces the old one in the reply: ask for that too.
    let old = if unique {
        statx_raw(dir.as_raw_fd(), &n, flags, base | libc::STATX_MNT_ID)?.stx_mnt_id
    } else {
        st.stx_mnt_id
    };
    Ok(Stat {
        mode: u32::from(st.stx_mode),
        uid: st.stx_uid,
        gid: st.stx_gid,
        ino: st.stx_ino,
        dev: libc::makedev(st.stx_dev_major, st.stx_dev_minor),
        size: st.stx_size,
        mtime_ns: i128::from(st.stx_mtime.tv_sec) * 1_000_000_000
            + i128::from(st.stx_mtime.tv_nsec),
        mnt_id: old,
        mnt_id_unique: unique.then_some(st.stx_mnt_id),
    })
}

/// `fstatfs(fd)`: the filesystem magic of what `fd` refers to.
pub fn fs_magic_fd(fd: BorrowedFd<'_>) -> SysResult<i64> {
    // SAFETY: statfs is plain data; zeroed is a valid value.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and buffer.
    named("fstatfs", || unsafe {
        libc::fstatfs(fd.as_raw_fd(), &mut buf) as i64
    })?;
    Ok(buf.f_type as i64)
}

/// One directory entry: its name, `d_type` (`DT_DIR`, `DT_REG`, ...) and
/// `d_ino` (on cgroupfs, the cgroup's id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name's bytes, as the kernel gave them (not always UTF-8).
    pub name: std::ffi::OsString,
    pub kind: u8,
    pub ino: u64,
}

/// Every entry of the directory `dir` (opened for reading), `.` and `..`
/// left out, read with `getdents64` from the start.
pub fn read_dir_fd(dir: BorrowedFd<'_>) -> SysResult<Vec<DirEntry>> {
    // SAFETY: valid fd.
    named("lseek", || unsafe {
        libc::lseek(dir.as_raw_fd(), 0, libc::SEEK_SET)
    })?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: valid fd and buffer.
        let n = named("getdents64", || unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        })? as usize;
        if n == 0 {
            return Ok(out);
        }
        let mut off = 0;
        while off + 19 <= n {
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 || off + reclen > n {
                break;
            }
            let ino = u64::from_ne_bytes(buf[off..off + 8].try_into().expect("8 bytes"));
            let kind = buf[off + 18];
            let name = &buf[off + 19..off + reclen];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let name = std::ffi::OsStr::from_bytes(&name[..end]).to_os_string();
            if name != "." && name != ".." {
                out.push(DirEntry { name, kind, ino });
            }
            off += reclen;
        }
    }
}

/// `ftruncate(fd, 0)` and a seek back to the start.
pub fn truncate(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: valid fd.
    named("ftruncate", || unsafe {
        libc::ftruncate(fd.as_raw_fd(), 0) as i64
    })?;
    // SAFETY: valid fd.
    named("lseek", || unsafe {
        libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET)
    })?;
    Ok(())
}

/// `ftruncate(fd, len)`.
pub fn truncate_to(fd: BorrowedFd<'_>, len: u64) -> SysResult<()> {
    // SAFETY: valid fd.
    named("ftruncate", || unsafe {
        libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) as i64
    })?;
    Ok(())
}

/// `fchmod(fd, mode)`: the mode of the file `fd` holds, by its handle.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> SysResult<()> {
    // SAFETY: valid fd.
    named("fchmod", || unsafe {
        libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) as i64
    })?;
    Ok(())
}

/// `fsync(fd)`.
pub fn fsync(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: valid fd.
    named("fsync", || unsafe { libc::fsync(fd.as_raw_fd()) as i64 })?;
    Ok(())
}

/// `umount2` of the mount `fd` is the root of, named by its
/// `/proc/self/fd` link (which no one else can change), with `MNT_DETACH`.
pub fn umount_fd(fd: BorrowedFd<'_>) -> SysResult<()> {
    let c = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL");
    // SAFETY: valid path.
    named("umount2", || unsafe {
        libc::umount2(c.as_ptr(), libc::MNT_DETACH) as i64
    })?;
    Ok(())
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH)`: a detached bind
/// mount of what `fd` refers to.
pub fn open_tree_clone_fd(fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | libc::AT_EMPTY_PATH as u32;
    let empty = c"";
    // SAFETY: valid fd and C string.
    let fd = named("open_tree", || unsafe {
        libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), empty.as_ptr(), flags)
    })?;
    Ok(fd_result(fd))
}

/// `write(2)` of all of `bytes`.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> SysResult<()> {
    while !bytes.is_empty() {
        // SAFETY: valid fd and buffer.
        match named("write", || unsafe {
            libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) as i64
        }) {
            Ok(n) => bytes = &bytes[n as usize..],
            Err(e) if e.errno() == libc::EINTR => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads `fd` to its end.
pub fn read_to_end(fd: BorrowedFd<'_>) -> SysResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: valid fd and buffer.
        match named("read", || unsafe {
            libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) as i64
        }) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n as usize]),
            Err(e) if e.errno() == libc::EINTR => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `symlinkat(target, dir, name)`: fails with EEXIST rather than replace.
pub fn symlink_at(
    target: &Path,
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
) -> SysResult<()> {
    let t = cpath(target, "symlinkat")?;
    let n = cname(name, "symlinkat")?;
    // SAFETY: valid C strings and fd.
    named("symlinkat", || unsafe {
        libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) as i64
    })?;
    Ok(())
}

/// Creates the empty file `name` in `dir` with `mode`; never follows or
/// replaces anything (`O_CREAT | O_EXCL | O_NOFOLLOW`).
pub fn create_excl(
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
    mode: u32,
) -> SysResult<OwnedFd> {
    let n = cname(name, "openat")?;
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_RDONLY;
    // SAFETY: valid C string and fd.
    let fd = named("openat", || unsafe {
        libc::openat(dir.as_raw_fd(), n.as_ptr(), flags, mode) as i64
    })?;
    Ok(fd_result(fd))
}

/// `unlinkat(dir, name, 0)`.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<()> {
    let n = cname(name, "unlinkat")?;
    // SAFETY: valid C string and fd.
    named("unlinkat", || unsafe {
        libc::unlinkat(dir.as_raw_fd(), n.as_ptr(), 0) as i64
    })?;
    Ok(())
}

const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;

/// `open_tree(path, OPEN_TREE_CLONE)`: a detached bind mount of `path`.
pub fn open_tree_clone(path: &Path) -> SysResult<OwnedFd> {
    let c = cpath(path, "open_tree")?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
    // SAFETY: valid path.
    let fd = named("open_tree", || unsafe {
        libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags)
    })?;
    Ok(fd_result(fd))
}

/// `move_mount(tree, "", dir, name)`: attaches a detached mount onto `name`
/// in `dir`, without following a symlink there.
pub fn move_mount_to(
    tree: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
) -> SysResult<()> {
    let n = cname(name, "move_mount")?;
    let empty = c"";
    // SAFETY: valid fds and C strings.
    named("move_mount", || unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            dir.as_raw_fd(),
            n.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })?;
    Ok(())
}

/// `umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW)`.
pub fn umount_nofollow(path: &Path) -> SysResult<()> {
    let c = cpath(path, "umount2")?;
    // SAFETY: valid path.
    named("umount2", || unsafe {
        libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) as i64
    })?;
    Ok(())
}

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
pub fn eventfd() -> SysResult<OwnedFd> {
    // SAFETY: no pointers.
    let fd = named("eventfd", || unsafe {
        libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) as i64
    })?;
    Ok(fd_result(fd))
}

/// Adds 1 to an eventfd, waking whoever polls it.
pub fn eventfd_signal(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: valid fd.
    named("eventfd_write", || unsafe {
        libc::eventfd_write(fd.as_raw_fd(), 1) as i64
    })?;
    Ok(())
}

/// Polls `fds` for input for up to `timeout_ms` (-1: no limit). Returns
/// which are readable.
pub fn poll_in(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> SysResult<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `p` is a valid array of pollfd.
        match named("poll", || unsafe {
            libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) as i64
        }) {
            Ok(_) => {
                return Ok(p
                    .iter()
                    .map(|x| x.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0)
                    .collect());
            }
            Err(e) if e.errno() == libc::EINTR => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `read(2)` into `buf`; `Ok(0)` for EAGAIN on a non-blocking fd.
pub fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for its length.
    match named("read", || unsafe {
        libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) as i64
    }) {
        Ok(n) => Ok(n as usize),
        Err(e) if e.errno() == libc::EAGAIN => Ok(0),
        Err(e) => Err(e),
    }
}

/// `open_by_handle_at(mount_fd, handle, O_PATH)`: opens the object a file
/// handle from fanotify names.
pub fn open_by_handle(
    mount: BorrowedFd<'_>,
    handle_type: i32,
    handle: &[u8],
) -> SysResult<OwnedFd> {
    let mut buf = vec![0u8; 8 + handle.len()];
    buf[0..4].copy_from_slice(&(handle.len() as u32).to_ne_bytes());
    buf[4..8].copy_from_slice(&handle_type.to_ne_bytes());
    buf[8..].copy_from_slice(handle);
    // SAFETY: `buf` holds a struct file_handle of the right size.
    let fd = named("open_by_handle_at", || unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            libc::O_PATH | libc::O_CLOEXEC,
        ) as i64
    })?;
    Ok(fd_result(fd))
}

/// `flock(fd, LOCK_EX | LOCK_NB)`: Err(EWOULDBLOCK) when someone holds it.
pub fn flock_exclusive(fd: BorrowedFd<'_>, wait: bool) -> SysResult<()> {
    let op = libc::LOCK_EX | if wait { 0 } else { libc::LOCK_NB };
    // SAFETY: valid fd.
    named("flock", || unsafe {
        libc::flock(fd.as_raw_fd(), op) as i64
    })?;
    Ok(())
}

/// `name_to_handle_at(path, AT_HANDLE_FID)`: the file handle fanotify
/// reports for `path` (works on filesystems that cannot decode handles).
/// Returns (handle type, handle bytes).
pub fn handle_of(path: &Path) -> SysResult<(i32, Vec<u8>)> {
    let c = cpath(path, "name_to_handle_at")?;
    let mut buf = vec![0u8; 8 + 128];
    buf[0..4].copy_from_slice(&128u32.to_ne_bytes());
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `buf` holds a struct file_handle with room for 128 bytes.
    named("name_to_handle_at", || unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut mount_id,
            libc::AT_HANDLE_FID,
        ) as i64
    })?;
    let len = u32::from_ne_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let ty = i32::from_ne_bytes(buf[4..8].try_into().expect("4 bytes"));
    Ok((ty, buf[8..8 + len.min(128)].to_vec()))
}

/// The path an fd refers to, from `/proc/self/fd`.
pub fn fd_path(fd: BorrowedFd<'_>) -> SysResult<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|error| SysError {
        op: "readlink",
        error,
    })
}
