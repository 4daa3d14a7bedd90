//! File and mount calls that must not follow symlinks or race: `openat2`
//! with `RESOLVE_NO_SYMLINKS`, `*at` calls on a directory fd, the new mount
//! API, fanotify reads, eventfd and poll, and `flock`.

use super::{SysError, SysResult, cpath, fd_result, named};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

fn cname(name: &str, op: &'static str) -> SysResult<CString> {
    CString::new(name).map_err(|_| SysError {
        op,
        error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "name contains a NUL byte"),
    })
}

/// Opens directory `path` as an `O_PATH` fd, refusing any symlink on the way
/// (`openat2` with `RESOLVE_NO_SYMLINKS`).
pub fn open_dir_nofollow(path: &Path) -> SysResult<OwnedFd> {
    let c = cpath(path, "openat2")?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS;
    let fd = named("openat2", || {
        // SAFETY: valid path and open_how for the duration of the call.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::AT_FDCWD,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        }
    })?;
    Ok(fd_result(fd))
}

/// `symlinkat(target, dir, name)`: fails with EEXIST rather than replace.
pub fn symlink_at(target: &Path, dir: BorrowedFd<'_>, name: &str) -> SysResult<()> {
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
pub fn create_excl(dir: BorrowedFd<'_>, name: &str, mode: u32) -> SysResult<OwnedFd> {
    let n = cname(name, "openat")?;
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_RDONLY;
    // SAFETY: valid C string and fd.
    let fd = named("openat", || unsafe {
        libc::openat(dir.as_raw_fd(), n.as_ptr(), flags, mode) as i64
    })?;
    Ok(fd_result(fd))
}

/// `unlinkat(dir, name, 0)`.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &str) -> SysResult<()> {
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
pub fn move_mount_to(tree: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &str) -> SysResult<()> {
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
