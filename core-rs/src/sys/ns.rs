//! Process and namespace calls: `pidfd_open`, a signal-0 liveness check
//! through a pidfd, `unshare(CLONE_FS)` and `setns(CLONE_NEWNS)` for the
//! calling thread, `fchdir`, `umount2` relative to the working directory,
//! and `mount_setattr` on a detached mount.

use super::{SysResult, cpath, fd_result, named};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// `pidfd_open(pid, 0)`: a handle on the process `pid` that no later
/// process with the same PID can be taken for.
pub fn pidfd_open(pid: u32) -> SysResult<OwnedFd> {
    // SAFETY: no pointers.
    let fd = named("pidfd_open", || unsafe {
        libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0)
    })?;
    Ok(fd_result(fd))
}

/// `pidfd_send_signal(pidfd, 0)`: Ok while the process lives, ESRCH once it
/// has exited.
pub fn pidfd_alive(pidfd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: no pointers but a null siginfo, which the call allows.
    named("pidfd_send_signal", || unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })?;
    Ok(())
}

/// `unshare(CLONE_FS)`: gives the calling thread its own root and working
/// directory, the condition `setns(CLONE_NEWNS)` sets (it is refused, with
/// EINVAL, while another thread shares them).
pub fn unshare_fs() -> SysResult<()> {
    // SAFETY: no pointers.
    named("unshare", || unsafe {
        libc::unshare(libc::CLONE_FS) as i64
    })?;
    Ok(())
}

/// `setns(fd, CLONE_NEWNS)`: moves the calling thread into the mount
/// namespace of the process `fd` (a pidfd) or of the namespace `fd`.
pub fn setns_mnt(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: no pointers.
    named("setns", || unsafe {
        libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNS) as i64
    })?;
    Ok(())
}

/// `fchdir(fd)`.
pub fn fchdir(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: no pointers.
    named("fchdir", || unsafe { libc::fchdir(fd.as_raw_fd()) as i64 })?;
    Ok(())
}

/// `umount2(rel, MNT_DETACH)`, `rel` relative to the working directory:
/// with the working directory on the host's procfs, `thread-self/fd/N`
/// names the mount an fd is on from any mount namespace.
pub fn umount_rel(rel: &Path) -> SysResult<()> {
    let c = cpath(rel, "umount2")?;
    // SAFETY: valid path.
    named("umount2", || unsafe {
        libc::umount2(c.as_ptr(), libc::MNT_DETACH) as i64
    })?;
    Ok(())
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE)` setting
/// read-only, nosuid, nodev and noexec: nothing on the other side can
/// change the inode (its mode, its owner) through the mount.
pub fn mount_read_only(tree: BorrowedFd<'_>) -> SysResult<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    let flags = libc::AT_EMPTY_PATH as u32 | libc::AT_RECURSIVE as u32;
    // SAFETY: valid fd, C string and attribute struct of the size given.
    named("mount_setattr", || unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}
