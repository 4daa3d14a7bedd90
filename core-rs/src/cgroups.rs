//! cgroup2: finding the mount, naming a cgroup by path or id, walking a
//! subtree.

use crate::error::{Error, Kind, Result, q};
use crate::mounts::{self, CGROUP2_SUPER_MAGIC};
use crate::sys;
use std::os::unix::fs::{DirEntryExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

/// A cgroup: its directory (when known) and its id (the directory's inode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    pub path: Option<PathBuf>,
    pub id: u64,
}

/// The cgroup2 mountpoint, or an error saying there is none.
pub fn root() -> Result<PathBuf> {
    mounts::cgroup2()?.map(PathBuf::from).ok_or_else(|| {
        Error::new(
            Kind::NotSupported,
            "mountinfo",
            "No cgroup2 filesystem is mounted",
        )
        .with_hint("mount one: mount -t cgroup2 none /sys/fs/cgroup")
    })
}

/// Resolves `spec`: a number is a cgroup id; an absolute path must be a
/// cgroup2 directory; a relative path is taken below the cgroup2 mount.
pub fn resolve(spec: &str) -> Result<Cgroup> {
    if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
        let id: u64 = spec
            .parse()
            .map_err(|_| Error::invalid("cgroup", format!("Invalid cgroup id \"{spec}\"")))?;
        return Ok(Cgroup { path: None, id });
    }
    let path = if Path::new(spec).is_absolute() {
        PathBuf::from(spec)
    } else {
        root()?.join(spec)
    };
    let meta = std::fs::metadata(&path).map_err(|e| {
        Error::io(format!("Cannot use cgroup {}", q(&path)), "stat", &e)
            .with_path(&path)
            .with_hint("check the path: cgroups are directories under the cgroup2 mount (see `bpfx doctor`)")
    })?;
    match sys::fs_magic(&path) {
        Ok(m) if m == CGROUP2_SUPER_MAGIC && meta.is_dir() => Ok(Cgroup {
            id: meta.ino(),
            path: Some(path),
        }),
        Ok(_) => Err(Error::invalid(
            "statfs",
            format!(
                "Cannot use cgroup {}: it is not a cgroup2 directory",
                q(&path)
            ),
        )
        .with_path(&path)),
        Err(e) => Err(Error::sys(format!("Cannot use cgroup {}", q(&path)), e).with_path(&path)),
    }
}

/// A walk of a subtree: each cgroup as (path relative to the top, id),
/// parents before children; and the cgroups removed during the walk.
pub struct Walk {
    pub cgroups: Vec<(PathBuf, u64)>,
    pub vanished: Vec<PathBuf>,
}

/// Every cgroup in the subtree at `top` (itself included). A cgroup removed
/// during the walk is left out, and named in `vanished`.
pub fn walk(top: &Path) -> Result<Walk> {
    let meta = std::fs::metadata(top).map_err(|e| {
        Error::io(format!("Cannot walk cgroup {}", q(top)), "stat", &e).with_path(top)
    })?;
    let mut out = vec![(PathBuf::new(), meta.ino())];
    let mut vanished = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = top.join(&rel);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                vanished.push(rel);
                continue;
            }
            Err(e) => {
                return Err(
                    Error::io(format!("Cannot walk cgroup {}", q(&dir)), "readdir", &e)
                        .with_path(&dir),
                );
            }
        };
        let mut children = Vec::new();
        for entry in rd {
            let Ok(entry) = entry else { continue };
            let Ok(ft) = entry.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            // d_ino is the cgroup's id (kernfs gives its node's id): no
            // stat per cgroup.
            children.push((rel.join(entry.file_name()), entry.ino()));
        }
        for (child, id) in children {
            stack.push(child.clone());
            out.push((child, id));
        }
    }
    out.sort();
    Ok(Walk {
        cgroups: out,
        vanished,
    })
}
