//! Pins in bpffs, whoever made them: open, show, list and unpin.

use crate::error::{Error, Kind, Result, q};
use crate::fs::mounts::{self, BPF_FS_MAGIC};
use crate::fs::paths::{self, Dir};
use crate::kernel::info::{self, ObjKind, ObjectInfo};
use crate::sys;
use serde::Serialize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Opens the object pinned at `path` and tells its kind. With `want`, an
/// object of another kind is refused.
pub fn open(path: &Path, want: Option<ObjKind>) -> Result<(OwnedFd, ObjKind)> {
    let fd = sys::bpf_obj_get(path).map_err(|e| open_error(path, e))?;
    let kind = info::kind_of(fd.as_fd()).ok_or_else(|| {
        Error::new(
            Kind::WrongKind,
            "BPF_OBJ_GET",
            format!(
                "Cannot open pin {}: not a BPF program, map or link",
                q(path)
            ),
        )
        .with_path(path)
    })?;
    if let Some(want) = want
        && want != kind
    {
        return Err(Error::new(
            Kind::WrongKind,
            "BPF_OBJ_GET",
            format!(
                "Cannot open pin {} as {}: it is {}",
                q(path),
                want.noun(),
                kind.noun()
            ),
        )
        .with_path(path));
    }
    Ok((fd, kind))
}

fn open_error(path: &Path, e: sys::SysError) -> Error {
    let what = format!("Cannot open pin {}", q(path));
    // Say why in bpfx's words where the errno alone would mislead.
    if e.errno() != libc::ENOENT
        && let Ok(m) = sys::fs_magic(path)
        && m != BPF_FS_MAGIC
    {
        return Error::new(
            Kind::NotBpffs,
            e.op,
            format!("{what}: the path is not on bpffs"),
        )
        .with_path(path)
        .with_hint(mounts::not_bpffs_hint(path));
    }
    if path.is_dir() {
        return Error::new(
            Kind::Invalid,
            e.op,
            format!("{what}: it is a directory, not a pin"),
        )
        .with_path(path);
    }
    let err = Error::sys(what, e).with_path(path);
    if err.kind == Kind::NotFound
        && !mounts::is_bpffs(Path::new(mounts::DEFAULT_BPFFS))
        && path.starts_with(mounts::DEFAULT_BPFFS)
    {
        return err.with_hint(mounts::not_bpffs_hint(path));
    }
    err
}

/// The kernel's information on the object pinned at `path`.
pub fn show(path: &Path) -> Result<ObjectInfo> {
    let (fd, kind) = open(path, None)?;
    let mut i = info::info_of_kind(fd.as_fd(), kind)?;
    i.path = Some(path.display().to_string());
    Ok(i)
}

/// One listed pin.
#[derive(Debug, Clone, Serialize)]
pub struct PinEntry {
    pub path: String,
    /// `prog`, `map`, `link`, or `unknown` when it could not be opened.
    pub kind: String,
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// A link's target, as `show` gives it; absent for programs and maps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every pin below `root` (or `root` itself when it is a pin), depth-first in
/// name order. `depth` 1 lists only the directory's own entries.
pub fn ls(root: &Path, depth: Option<u32>) -> Result<Vec<PinEntry>> {
    let cannot =
        |e: sys::SysError| Error::sys(format!("Cannot list {}", q(root)), e).with_path(root);
    // The caller's own spelling of the root is followed, once, into a
    // handle; below it the tree is walked by handles, never through a
    // symlink or onto another mount, so a rename during the walk cannot
    // lead it elsewhere. A root that is no directory is one pin.
    let dir = match Dir::open_following(root) {
        Ok(dir) => Some(dir),
        Err(e) if e.errno() == libc::ENOTDIR => None,
        Err(e) => return Err(cannot(e)),
    };
    let magic = match &dir {
        Some(d) => d.magic(),
        None => sys::fs_magic(root),
    };
    match magic {
        Ok(m) if m == BPF_FS_MAGIC => {}
        Ok(_) => {
            return Err(Error::new(
                Kind::NotBpffs,
                "statfs",
                format!("Cannot list {}: the path is not on bpffs", q(root)),
            )
            .with_path(root)
            .with_hint(mounts::not_bpffs_hint(root)));
        }
        Err(e) => return Err(cannot(e)),
    }
    let mut out = Vec::new();
    match dir {
        Some(dir) => walk(&dir, depth, 1, &mut out)?,
        None => out.extend(entry(root)),
    }
    Ok(out)
}

fn walk(dir: &Dir, depth: Option<u32>, level: u32, out: &mut Vec<PinEntry>) -> Result<()> {
    let mut names = dir.entries().map_err(|e| {
        Error::sys(format!("Cannot list {}", q(dir.path())), e).with_path(dir.path())
    })?;
    names.sort_by(|a, b| a.name.cmp(&b.name));
    for e in names {
        match e.kind {
            paths::DT_DIR => {
                if depth.is_some_and(|d| level >= d) {
                    continue;
                }
                // Gone meanwhile, or another mount: skipped.
                if let Ok(sub) = dir.open_rel(Path::new(&e.name), false) {
                    walk(&sub, depth, level + 1, out)?;
                }
            }
            paths::DT_REG => out.extend(entry_at(dir, &e.name)),
            _ => {} // never follow links
        }
    }
    Ok(())
}

/// The entry for pin `name` in `dir`, opened relative to it.
fn entry_at(dir: &Dir, name: &std::ffi::OsStr) -> Option<PinEntry> {
    let p = dir.path().join(name);
    let opened = dir
        .obj_get(name)
        .map_err(|e| open_error(&p, e))
        .and_then(|fd| {
            let kind = info::kind_of(fd.as_fd()).ok_or_else(|| {
                Error::new(
                    Kind::WrongKind,
                    "BPF_OBJ_GET",
                    format!("Cannot open pin {}: not a BPF program, map or link", q(&p)),
                )
            })?;
            let mut i = info::info_of_kind(fd.as_fd(), kind)?;
            i.path = Some(p.display().to_string());
            Ok(i)
        });
    pin_entry(&p, opened)
}

/// The entry for one file; `None` for bpffs's preloaded `maps.debug` and
/// `progs.debug`, which are kernel files rather than pins.
fn entry(p: &Path) -> Option<PinEntry> {
    pin_entry(p, show(p))
}

fn pin_entry(p: &Path, shown: Result<ObjectInfo>) -> Option<PinEntry> {
    let path = p.display().to_string();
    Some(match shown {
        Err(e) if e.kind == Kind::NotFound && is_preload(p) => return None,
        Ok(i) => PinEntry {
            path,
            kind: serde_json::to_value(i.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            id: i.id,
            name: i.name,
            type_name: i.type_name,
            target: match i.detail {
                info::Detail::Link(l) => Some(l.target),
                _ => None,
            },
            error: None,
        },
        Err(e) => PinEntry {
            path,
            kind: "unknown".into(),
            id: 0,
            name: String::new(),
            type_name: String::new(),
            target: None,
            error: Some(e.message.clone()),
        },
    })
}

/// What `unpin` did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct UnpinReport {
    /// Removed paths, deepest first.
    pub removed: Vec<String>,
    /// Paths the kernel keeps (the preloaded `maps.debug` and `progs.debug`),
    /// and mount roots, which are emptied but not removed.
    pub kept: Vec<String>,
}

/// Removes the pin at `path`; a directory only with `recursive`. Refuses any
/// path that is not on bpffs. Never follows symlinks or crosses mounts: the
/// tree is walked and changed through handles, so a directory renamed or
/// swapped for a symlink during the walk cannot lead it elsewhere.
pub fn unpin(path: &Path, recursive: bool) -> Result<UnpinReport> {
    let path = &mounts::absolute(path);
    let what = || format!("Cannot unpin {}", q(path));
    let fail = |e: sys::SysError| {
        let err = Error::sys(what(), e).with_path(path);
        if err.errno == libc::ELOOP {
            err.with_kind(Kind::Invalid)
                .with_message(format!(
                    "{}: a directory on the way to it is a symlink",
                    what()
                ))
                .with_hint("bpfx follows no symlink to remove pins: give the real path")
        } else {
            err
        }
    };
    let not_bpffs = || {
        Err(Error::new(
            Kind::NotBpffs,
            "statfs",
            format!("{}: the path is not on bpffs", what()),
        )
        .with_path(path)
        .with_hint("bpfx only removes pins in bpffs; remove other files with rm"))
    };
    let mut report = UnpinReport::default();
    let Some((parent, name)) = paths::split(path) else {
        // `/` itself, or a path ending in `..`.
        return not_bpffs();
    };
    let pd = Dir::open(parent).map_err(fail)?;
    let st = pd.stat(name).map_err(fail)?;
    if st.is_dir() {
        let d = pd.open_rel(Path::new(name), true).map_err(fail)?;
        if !d.magic().is_ok_and(|m| m == BPF_FS_MAGIC) {
            return not_bpffs();
        }
        if !recursive {
            return Err(Error::new(
                Kind::Invalid,
                "unlink",
                format!("{}: it is a directory", what()),
            )
            .with_path(path)
            .with_hint("pass --recursive to remove the directory and every pin below it"));
        }
        empty_tree(&d, path, &mut report)?;
        let mount_root = pd.stat("").map(|p| p.mnt_id).ok() != Some(st.mnt_id);
        if mount_root || report.kept.iter().any(|k| Path::new(k).starts_with(path)) {
            report.kept.push(path.display().to_string());
        } else {
            pd.rmdir(name).map_err(fail)?;
            report.removed.push(path.display().to_string());
        }
    } else {
        if !pd.magic().is_ok_and(|m| m == BPF_FS_MAGIC) {
            return not_bpffs();
        }
        pd.unlink(name).map_err(fail)?;
        report.removed.push(path.display().to_string());
    }
    Ok(report)
}

/// Removes everything below `dir` (shown as `shown`), staying on its mount.
fn empty_tree(dir: &Dir, shown: &Path, report: &mut UnpinReport) -> Result<()> {
    let fail = |p: &Path, op: &str, e: sys::SysError| {
        Error::sys(format!("Cannot unpin {}", q(p)), e)
            .with_path(p)
            .with_op(op)
    };
    let mut entries = dir.entries().map_err(|e| fail(shown, "readdir", e))?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for entry in entries {
        let p = shown.join(&entry.name);
        if entry.kind == paths::DT_DIR {
            let sub = match dir.open_rel(Path::new(&entry.name), false) {
                Ok(s) => s,
                // Another mount: not ours to empty.
                Err(e) if e.errno() == libc::EXDEV => {
                    report.kept.push(p.display().to_string());
                    continue;
                }
                Err(e) if e.errno() == libc::ENOENT => continue,
                Err(e) => return Err(fail(&p, "openat2", e)),
            };
            empty_tree(&sub, &p, report)?;
            if report.kept.iter().any(|k| Path::new(k).starts_with(&p)) {
                report.kept.push(p.display().to_string());
            } else {
                match dir.rmdir(&entry.name) {
                    Ok(()) => report.removed.push(p.display().to_string()),
                    Err(e) if e.errno() == libc::ENOENT => {}
                    Err(e) => return Err(fail(&p, "rmdir", e)),
                }
            }
            continue;
        }
        match dir.unlink(&entry.name) {
            Ok(()) => report.removed.push(p.display().to_string()),
            Err(e) if e.errno() == libc::ENOENT => {}
            // The kernel's preloaded iterators cannot be removed.
            Err(e) if e.errno() == libc::EPERM && is_preload(&p) => {
                report.kept.push(p.display().to_string())
            }
            Err(e) => return Err(fail(&p, "unlink", e)),
        }
    }
    Ok(())
}

/// Whether `p` is one of the files every bpffs mount gets with `CONFIG_BPF_PRELOAD`.
pub fn is_preload(p: &Path) -> bool {
    matches!(
        p.file_name().and_then(|n| n.to_str()),
        Some("maps.debug" | "progs.debug")
    )
}

/// Checks that `pin` can be made for the `what` (`view`, `link`) to pin:
/// its directory is on bpffs, its name has no `.`, and nothing is there yet.
pub fn check_new(pin: &Path, what: &str) -> Result<()> {
    let parent = pin
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    mounts::require_bpffs_dir(parent, &format!("pin the {what}"))?;
    let name = pin.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.is_empty() || name.contains('.') {
        return Err(Error::invalid(
            "BPF_OBJ_PIN",
            format!(
                "Cannot pin the {what} at {}: bpffs refuses '.' in names",
                q(pin)
            ),
        )
        .with_path(pin)
        .with_hint("choose a name without '.'"));
    }
    if paths::lstat(pin).is_ok() {
        return Err(Error::new(
            Kind::Exists,
            "BPF_OBJ_PIN",
            format!(
                "Cannot pin the {what} at {}: the name is already in use",
                q(pin)
            ),
        )
        .with_path(pin)
        .with_hint(format!(
            "unpin it first (`bpfx unpin {}`) or choose another name",
            pin.display()
        )));
    }
    Ok(())
}

/// Pins `link`, a `what` (`view`, `link`), at `pin`.
///
/// The parent is resolved once into a handle (as the caller spelled it) and
/// the pin is made relative to it (`BPF_F_PATH_FD`), so a directory swapped
/// in on the way after the checks cannot redirect it.
pub fn pin_at(link: BorrowedFd<'_>, pin: &Path, what: &str) -> Result<()> {
    let pin = &mounts::absolute(pin);
    let (parent, name) = paths::split(pin).ok_or_else(|| {
        Error::invalid(
            "BPF_OBJ_PIN",
            format!("Cannot pin the {what} at {}: not a file name", q(pin)),
        )
        .with_path(pin)
    })?;
    Dir::open_following(parent)
        .and_then(|dir| dir.pin(link, name))
        .map_err(|e| {
            let err = Error::sys(format!("Cannot pin the {what} at {}", q(pin)), e).with_path(pin);
            if err.kind == Kind::Exists {
                err.with_hint("unpin it first, or choose another name")
            } else {
                err
            }
        })
}

/// Moves the pin (or directory) `from` to `to` in one step, within one
/// bpffs: both parents are resolved once into handles and checked to be
/// bpffs on one mount, and the move is made relative to them
/// (`renameat2`). `noreplace` refuses an existing `to`; else it is
/// replaced atomically, so `to` names the old object or the new one, never
/// nothing. With `parents`, the directories missing above `to` are made
/// first (no symlink followed on the way, each on its parent's mount).
pub fn rename(from: &Path, to: &Path, noreplace: bool, parents: bool) -> Result<()> {
    let (from, to) = (&mounts::absolute(from), &mounts::absolute(to));
    let what = format!("Cannot move pin {} to {}", q(from), q(to));
    fn split<'a>(p: &'a Path, what: &str) -> Result<(&'a Path, &'a str)> {
        paths::split(p).ok_or_else(|| {
            Error::invalid("renameat2", format!("{what}: {} is not a file name", q(p))).with_path(p)
        })
    }
    let ((fp, fname), (tp, tname)) = (split(from, &what)?, split(to, &what)?);
    if tname.contains('.') {
        return Err(
            Error::invalid("renameat2", format!("{what}: bpffs refuses '.' in names"))
                .with_path(to),
        );
    }
    let open =
        |p: &Path| Dir::open_following(p).map_err(|e| Error::sys(what.clone(), e).with_path(p));
    let td = if parents {
        Dir::make_all(tp, 0o755).map_err(|e| Error::sys(what.clone(), e).with_path(tp))?
    } else {
        open(tp)?
    };
    let fd = open(fp)?;
    for d in [&fd, &td] {
        if d.magic().ok() != Some(BPF_FS_MAGIC) {
            return Err(Error::new(
                Kind::NotBpffs,
                "renameat2",
                format!("{what}: {} is not on bpffs", q(d.path())),
            )
            .with_path(d.path())
            .with_hint(mounts::not_bpffs_hint(d.path())));
        }
    }
    let mount = |d: &Dir| d.stat("").ok().map(|s| (s.mnt_id, s.dev));
    if mount(&fd) != mount(&td) {
        return Err(Error::invalid(
            "renameat2",
            format!("{what}: they are on two mounts; a pin moves only within one"),
        )
        .with_path(to));
    }
    fd.rename_into(fname, &td, tname, noreplace).map_err(|e| {
        let err = Error::sys(what.clone(), e).with_path(from);
        if err.kind == Kind::Exists {
            err.with_hint("unpin it first, or choose another name")
        } else {
            err
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{BpfCmd, Call, fake};

    #[test]
    fn open_maps_enoent_to_not_found_with_path() {
        let _g = fake::install(|c| match c {
            Call::Bpf {
                cmd: BpfCmd::ObjGet,
                ..
            } => fake::errno(libc::ENOENT),
            Call::Statfs { .. } => Some(Ok(BPF_FS_MAGIC)),
            _ => None,
        });
        let e = open(Path::new("/sys/fs/bpf/nope"), None).unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert_eq!(e.op, "BPF_OBJ_GET");
        assert_eq!(e.errno, libc::ENOENT);
        assert_eq!(
            e.message,
            "Cannot open pin \"/sys/fs/bpf/nope\": no such file or directory"
        );
        assert_eq!(e.path.as_deref(), Some("/sys/fs/bpf/nope"));
    }

    #[test]
    fn open_outside_bpffs_says_so() {
        let _g = fake::install(|c| match c {
            Call::Bpf {
                cmd: BpfCmd::ObjGet,
                ..
            } => fake::errno(libc::EINVAL),
            Call::Statfs { .. } => Some(Ok(0xef53)), // ext4
            _ => None,
        });
        let e = open(Path::new("/etc/passwd"), None).unwrap_err();
        assert_eq!(e.kind, Kind::NotBpffs);
        assert_eq!(
            e.message,
            "Cannot open pin \"/etc/passwd\": the path is not on bpffs"
        );
    }

    #[test]
    fn open_without_privileges_hints_at_capabilities() {
        let _g = fake::install(|c| match c {
            Call::Bpf {
                cmd: BpfCmd::ObjGet,
                ..
            } => fake::errno(libc::EPERM),
            Call::Statfs { .. } => Some(Ok(BPF_FS_MAGIC)),
            _ => None,
        });
        let e = open(Path::new("/sys/fs/bpf/x"), None).unwrap_err();
        assert_eq!(e.kind, Kind::Permission);
        assert!(e.hint.as_deref().unwrap().contains("CAP_BPF"));
    }

    #[test]
    fn unpin_refuses_paths_off_bpffs() {
        let _g = fake::install(|c| match c {
            Call::Statfs { .. } => Some(Ok(0x01021994)),
            _ => None,
        });
        let dir = std::env::temp_dir();
        let e = unpin(&dir, true).unwrap_err();
        assert_eq!(e.kind, Kind::NotBpffs);
        assert!(dir.exists(), "nothing was removed");
    }

    #[test]
    fn preload_names() {
        assert!(is_preload(Path::new("/sys/fs/bpf/maps.debug")));
        assert!(!is_preload(Path::new("/sys/fs/bpf/maps")));
    }
}
