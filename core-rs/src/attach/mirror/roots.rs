//! The roots of the trees: given plainly, opened by handle and checked (the
//! pin root on bpffs and root's alone, the expose root on neither bpffs nor
//! cgroupfs), made when missing; and `Roots`, a tree's roots held open for
//! one operation.

use super::sys_err;
use crate::error::{Error, Kind, Result, q};
use crate::fs::mounts;
use crate::fs::paths::{self, Dir};
use crate::sys;
use std::path::{Component, Path, PathBuf};

/// Refuses a path with `..` or `.` components: a root is named plainly, so
/// that what is recorded is what is used.
pub(super) fn plain(path: &Path, what: &str) -> Result<PathBuf> {
    let path = mounts::absolute(path);
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(Error::invalid(
            "attach",
            format!("Give the {what} {} without '..' or '.'", q(&path)),
        ));
    }
    Ok(path)
}

/// Opens the pin root, on bpffs, making it (in a bpffs directory) when
/// `make` and it is missing. It must be root's: owned by it and, unless
/// sticky, writable by no one else, or others could rearrange its views.
pub(super) fn open_pin_root(root: &Path, make: bool) -> Result<Option<Dir>> {
    let dir = match Dir::open(root) {
        Ok(d) => d,
        Err(e) if e.errno() == libc::ENOENT && make => {
            let (parent, name) = paths::split(root).ok_or_else(|| {
                Error::invalid("mkdir", format!("Cannot make pin root {}", q(root)))
            })?;
            mounts::require_bpffs_dir(parent, "pin views")?;
            if name.contains('.') {
                return Err(Error::invalid(
                    "mkdir",
                    format!(
                        "Cannot make pin root {}: bpffs refuses '.' in names",
                        q(root)
                    ),
                ));
            }
            let p = Dir::open(parent)
                .map_err(|e| sys_err(format!("Cannot make pin root {}", q(root)), root, e))?;
            match sys::fs::mkdir_at(p.fd(), name, 0o755) {
                Ok(()) => {}
                Err(e) if e.errno() == libc::EEXIST => {}
                Err(e) => {
                    return Err(sys_err(
                        format!("Cannot make pin root {}", q(root)),
                        root,
                        e,
                    ));
                }
            }
            p.open_rel(Path::new(name), false)
                .map_err(|e| sys_err(format!("Cannot open pin root {}", q(root)), root, e))?
        }
        Err(e) if e.errno() == libc::ENOENT => return Ok(None),
        Err(e) => {
            let err = sys_err(format!("Cannot open pin root {}", q(root)), root, e);
            return Err(if err.errno == libc::ELOOP {
                err.with_kind(Kind::Invalid)
                    .with_hint("bpfx follows no symlink in a pin tree: give the real path")
            } else {
                err
            });
        }
    };
    if !dir.magic().is_ok_and(|m| m == mounts::BPF_FS_MAGIC) {
        return Err(Error::new(
            Kind::NotBpffs,
            "fstatfs",
            format!(
                "Cannot pin views at {}: the directory is not on bpffs",
                q(root)
            ),
        )
        .with_path(root)
        .with_hint(mounts::not_bpffs_hint(root)));
    }
    let st = dir
        .stat("")
        .map_err(|e| sys_err(format!("Cannot open pin root {}", q(root)), root, e))?;
    // SAFETY: no arguments.
    let me = unsafe { libc::geteuid() };
    let open_to_others = st.mode & 0o022 != 0 && st.mode & 0o1000 == 0;
    if st.uid != me || open_to_others {
        return Err(Error::new(
            Kind::Permission,
            "statx",
            format!(
                "Cannot use pin root {}: {}",
                q(root),
                if st.uid != me {
                    format!("it belongs to uid {}", st.uid)
                } else {
                    format!("others may write it (mode {:04o})", st.mode & 0o7777)
                }
            ),
        )
        .with_path(root)
        .with_hint("views are root's: give a pin root that root owns and alone writes, or a missing one for bpfx to make"));
    }
    Ok(Some(dir))
}

/// Opens the expose root, making it when `make`. It must not be on bpffs
/// or cgroupfs.
pub(super) fn open_expose_root(root: &Path, make: bool) -> Result<Option<Dir>> {
    let fail = |e: sys::SysError| {
        let err = sys_err(format!("Cannot open expose root {}", q(root)), root, e);
        if err.errno == libc::ELOOP {
            err.with_kind(Kind::Invalid)
                .with_message(format!(
                    "Cannot use expose root {}: it, or a directory on the way to it, is a symlink",
                    q(root)
                ))
                .with_hint("bpfx follows no symlink in a mirror tree: give the real path")
        } else {
            err
        }
    };
    let dir = match Dir::open(root) {
        Ok(d) => d,
        Err(e) if e.errno() == libc::ENOENT && !make => return Ok(None),
        Err(e) if e.errno() == libc::ENOENT => {
            // Judge it by where it would be made before making it.
            let mut on = root;
            let near = loop {
                match on.parent() {
                    Some(p) => on = p,
                    None => break Dir::open(Path::new("/")).map_err(fail)?,
                }
                match Dir::open(on) {
                    Ok(d) => break d,
                    Err(e) if e.errno() == libc::ENOENT => continue,
                    Err(e) => return Err(fail(e)),
                }
            };
            check_expose_fs(root, &near)?;
            Dir::make_all(root, 0o755).map_err(fail)?
        }
        Err(e) => return Err(fail(e)),
    };
    check_expose_fs(root, &dir)?;
    Ok(Some(dir))
}

pub(super) fn check_expose_fs(root: &Path, on: &Dir) -> Result<()> {
    match on.magic() {
        Ok(mounts::BPF_FS_MAGIC) => Err(Error::invalid(
            "attach",
            format!(
                "The expose root {} is on bpffs: give a directory on another filesystem",
                q(root)
            ),
        )),
        Ok(mounts::CGROUP2_SUPER_MAGIC) => Err(Error::invalid(
            "attach",
            format!(
                "The expose root {} is on cgroupfs, which takes no files: give another directory",
                q(root)
            ),
        )
        .with_hint("use a directory such as /run/bpfx/views; bpfx mirrors the cgroup tree there")),
        _ => Ok(()),
    }
}

/// A tree's roots, open for one operation; for links, the cgroup root too.
pub(super) struct Roots {
    pub(super) pin: Dir,
    pub(super) expose: Option<Dir>,
    pub(super) cgroups: Option<Dir>,
    /// The pin directory made last: cgroups come in order, so the next
    /// one's directory is most often beside it.
    pin_parent: std::cell::RefCell<Option<(PathBuf, Dir)>>,
}

impl Roots {
    pub(super) fn new(pin: Dir, expose: Option<Dir>, cgroups: Option<Dir>) -> Roots {
        Roots {
            pin,
            expose,
            cgroups,
            pin_parent: Default::default(),
        }
    }

    /// Opens the pin directory `enc_rel`, making what is missing: below
    /// the parent made last when it is the same, else from the pin root.
    pub(super) fn pin_dir(&self, enc_rel: &Path) -> sys::SysResult<Dir> {
        let (Some(parent), Some(name)) = (enc_rel.parent(), enc_rel.file_name()) else {
            return self.pin.open_rel(Path::new(""), false);
        };
        let child = |dir: &Dir| {
            match sys::fs::mkdir_at(dir.fd(), name, 0o755) {
                Ok(()) => {}
                Err(e) if e.errno() == libc::EEXIST => {}
                Err(e) => return Err(e),
            }
            dir.open_rel(Path::new(name), false)
        };
        let mut cached = self.pin_parent.borrow_mut();
        if let Some((at, dir)) = cached.as_ref()
            && at == parent
        {
            return child(dir);
        }
        let dir = self.pin.make_rel(parent, 0o755, false)?;
        let made = child(&dir);
        *cached = Some((parent.to_path_buf(), dir));
        made
    }
}
