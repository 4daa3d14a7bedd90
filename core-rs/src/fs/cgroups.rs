//! cgroup2: finding the mount, naming a cgroup by path or id, walking a
//! subtree.

use crate::error::{Error, Kind, Result, q};
use crate::fs::mounts::{self, CGROUP2_SUPER_MAGIC};
use crate::fs::paths::{self, Dir};
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
    let (dir, id) = open(&path, "Cannot use cgroup")?;
    drop(dir);
    Ok(Cgroup {
        id,
        path: Some(path),
    })
}

/// The canonical path of the cgroup2 directory `path` (symlinks and `..`
/// resolved), read from the handle that was checked to be one.
pub fn canonical(path: &Path) -> Result<PathBuf> {
    let (dir, _) = open(path, "Cannot use cgroup")?;
    paths::path_of(dir.fd())
        .map_err(|e| Error::sys(format!("Cannot use cgroup {}", q(path)), e).with_path(path))
}

/// A cgroup path that does not exist (yet), as far as it does: the
/// nearest ancestor that is a cgroup2 directory (canonical) with its id,
/// and the names below it still missing. `spec` is a path as
/// [`resolve`] takes it (relative: below the cgroup2 mount). Refused when
/// the missing part is not plain names, or no ancestor is on cgroup2.
pub fn nearest(spec: &str) -> Result<(PathBuf, u64, PathBuf)> {
    let path = if Path::new(spec).is_absolute() {
        PathBuf::from(spec)
    } else {
        root()?.join(spec)
    };
    let mut rest = Vec::new();
    let mut on = path.as_path();
    loop {
        match open(on, "Cannot use cgroup") {
            Ok((dir, id)) => {
                let top = paths::path_of(dir.fd()).map_err(|e| {
                    Error::sys(format!("Cannot use cgroup {}", q(on)), e).with_path(on)
                })?;
                let below: PathBuf = rest.iter().rev().collect();
                return Ok((top, id, below));
            }
            Err(e) if e.errno == libc::ENOENT => {}
            Err(e) => return Err(e),
        }
        let (Some(parent), Some(std::path::Component::Normal(name))) =
            (on.parent(), on.components().next_back())
        else {
            return Err(Error::invalid(
                "cgroup",
                format!(
                    "Cannot use cgroup {}: it does not exist, and its missing part is not plain names",
                    q(&path)
                ),
            )
            .with_path(&path));
        };
        rest.push(name.to_os_string());
        on = parent;
    }
}

/// Opens the cgroup2 directory `path` (the caller's spelling followed,
/// once) and gives its id: a handle that later work starts from.
fn open(path: &Path, verb: &str) -> Result<(Dir, u64)> {
    let not_cgroup = || {
        Error::invalid(
            "statfs",
            format!("{verb} {}: it is not a cgroup2 directory", q(path)),
        )
        .with_path(path)
    };
    let dir = Dir::open_following(path).map_err(|e| {
        if e.errno() == libc::ENOTDIR {
            return not_cgroup();
        }
        Error::sys(format!("{verb} {}", q(path)), e)
            .with_path(path)
            .with_hint("check the path: cgroups are directories under the cgroup2 mount (see `bpfx doctor`)")
    })?;
    match dir.magic() {
        Ok(m) if m == CGROUP2_SUPER_MAGIC => {}
        Ok(_) => return Err(not_cgroup()),
        Err(e) => return Err(Error::sys(format!("{verb} {}", q(path)), e).with_path(path)),
    }
    let st = dir
        .stat("")
        .map_err(|e| Error::sys(format!("{verb} {}", q(path)), e).with_path(path))?;
    Ok((dir, st.ino))
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
    // Each cgroup is opened below a handle on the top (no symlink, never
    // above it, never onto another mount), not by a path string.
    let (top_dir, top_id) = open(top, "Cannot walk cgroup")?;
    let mut out = vec![(PathBuf::new(), top_id)];
    let mut vanished = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = match top_dir.open_rel(&rel, false).and_then(|d| d.entries()) {
            Ok(entries) => entries,
            Err(e) if e.errno() == libc::ENOENT => {
                vanished.push(rel);
                continue;
            }
            Err(e) => {
                let dir = top.join(&rel);
                return Err(
                    Error::sys(format!("Cannot walk cgroup {}", q(&dir)), e).with_path(&dir)
                );
            }
        };
        for entry in entries {
            if entry.kind != paths::DT_DIR {
                continue;
            }
            // d_ino is the cgroup's id (kernfs gives its node's id): no
            // stat per cgroup.
            let child = rel.join(&entry.name);
            stack.push(child.clone());
            out.push((child, entry.ino));
        }
    }
    out.sort();
    Ok(Walk {
        cgroups: out,
        vanished,
    })
}

/// Every cgroup in the subtree at `top` as (path bytes relative to it, id),
/// names that are not UTF-8 kept as they are (as [`walk`] does not). A
/// cgroup removed during the walk is left out.
pub fn ids(top: &Path) -> Result<Vec<(Vec<u8>, u64)>> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    let (top_dir, top_id) = open(top, "Cannot walk cgroup")?;
    let mut out = vec![(Vec::new(), top_id)];
    let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
    while let Some(rel) = stack.pop() {
        let path = Path::new(OsStr::from_bytes(&rel));
        let entries = match top_dir.open_rel(path, false).and_then(|d| d.entries()) {
            Ok(entries) => entries,
            Err(e) if e.errno() == libc::ENOENT => continue,
            Err(e) => {
                let dir = top.join(path);
                return Err(
                    Error::sys(format!("Cannot walk cgroup {}", q(&dir)), e).with_path(&dir)
                );
            }
        };
        for entry in entries {
            if entry.kind != paths::DT_DIR {
                continue;
            }
            let name = std::os::unix::ffi::OsStringExt::into_vec(entry.name);
            let mut child = rel.clone();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(&name);
            stack.push(child.clone());
            out.push((child, entry.ino));
        }
    }
    Ok(out)
}
