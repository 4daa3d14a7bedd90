//! Where filesystems are mounted, read from `/proc/self/mountinfo`, and
//! whether a path is on bpffs.

use crate::error::{Error, Kind, Result, q};
use crate::sys;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const BPF_FS_MAGIC: i64 = 0xcafe4a11;
pub const CGROUP2_SUPER_MAGIC: i64 = 0x63677270;
pub const DEFAULT_BPFFS: &str = "/sys/fs/bpf";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Mount {
    pub mountpoint: String,
    pub fstype: String,
}

/// Parses mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mountpoint = crate::fs::paths::unescape(pre.split(' ').nth(4)?);
            let fstype = post.split(' ').next()?.to_string();
            Some(Mount { mountpoint, fstype })
        })
        .collect()
}

/// Every mount of this process's namespace.
pub fn mounts() -> Result<Vec<Mount>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("Cannot read \"/proc/self/mountinfo\"", "read", &e))?;
    Ok(parse_mountinfo(&text))
}

/// The mountpoints of a filesystem type, in mount order.
pub fn mountpoints(fstype: &str) -> Result<Vec<String>> {
    Ok(mounts()?
        .into_iter()
        .filter(|m| m.fstype == fstype)
        .map(|m| m.mountpoint)
        .collect())
}

/// The cgroup2 mountpoint, if any (the first one mounted).
pub fn cgroup2() -> Result<Option<String>> {
    Ok(mountpoints("cgroup2")?.into_iter().next())
}

/// Whether `path` itself is on bpffs.
pub fn is_bpffs(path: &Path) -> bool {
    matches!(sys::fs_magic(path), Ok(m) if m == BPF_FS_MAGIC)
}

/// Hint for a path that is not on bpffs.
pub fn not_bpffs_hint(path: &Path) -> String {
    if path.starts_with(DEFAULT_BPFFS) && !is_bpffs(Path::new(DEFAULT_BPFFS)) {
        "bpffs is not mounted at /sys/fs/bpf: run `bpfx doctor --fix` as root to mount it".into()
    } else {
        "choose a path under a bpffs mount (see `bpfx doctor` for where bpffs is mounted)".into()
    }
}

/// Checks that `dir` exists, is a directory, and is on bpffs.
pub fn require_bpffs_dir(dir: &Path, verb: &str) -> Result<()> {
    match sys::fs_magic(dir) {
        Ok(m) if m == BPF_FS_MAGIC => {}
        Ok(_) => {
            return Err(Error::new(
                Kind::NotBpffs,
                "statfs",
                format!("Cannot {verb} at {}: the directory is not on bpffs", q(dir)),
            )
            .with_path(dir)
            .with_hint(not_bpffs_hint(dir)));
        }
        Err(e) => {
            let err = Error::sys(format!("Cannot {verb} at {}", q(dir)), e).with_path(dir);
            return Err(if err.kind == Kind::NotFound {
                err.with_hint(not_bpffs_hint(dir))
            } else {
                err
            });
        }
    }
    if !dir.is_dir() {
        return Err(Error::invalid(
            "stat",
            format!("Cannot {verb} at {}: not a directory", q(dir)),
        )
        .with_path(dir));
    }
    Ok(())
}

/// Makes `dir` absolute against the current directory, lexically.
pub fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_mountinfo_reads_mountpoint_and_type() {
        let text = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                    50 23 0:45 / /tmp/a\\040b rw,relatime shared:3 - bpf bpf rw,mode=700\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            Mount {
                mountpoint: "/sys/fs/cgroup/unified".into(),
                fstype: "cgroup2".into()
            }
        );
        assert_eq!(m[1].mountpoint, "/tmp/a b");
        assert_eq!(m[1].fstype, "bpf");
    }

    #[test]
    fn require_bpffs_dir_refuses_other_filesystems() {
        let _g = crate::sys::fake::install(|c| match c {
            crate::sys::Call::Statfs { .. } => Some(Ok(0x01021994)), // tmpfs
            _ => None,
        });
        let e = require_bpffs_dir(Path::new("/tmp/x"), "pin").unwrap_err();
        assert_eq!(e.kind, Kind::NotBpffs);
        assert_eq!(
            e.message,
            "Cannot pin at \"/tmp/x\": the directory is not on bpffs"
        );
    }

    #[test]
    fn require_bpffs_dir_maps_missing_dir_to_not_found() {
        let _g = crate::sys::fake::install(|c| match c {
            crate::sys::Call::Statfs { .. } => crate::sys::fake::errno(libc::ENOENT),
            _ => None,
        });
        let e = require_bpffs_dir(Path::new("/sys/fs/bpf/nope"), "pin").unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert_eq!(e.op, "statfs");
        assert!(
            e.message.ends_with("no such file or directory"),
            "{}",
            e.message
        );
    }
}
