//! Making an exposure inside a container: the pin checked and taken on the
//! host as a detached, read-only mount (`prepare_into`), then moved onto a
//! new empty file at its path inside the namespace (`place`), the
//! directories on the way opened (or made) from the container's root.

use super::Process;
use crate::attach::rule::check_into_path;
use crate::error::{Error, Kind, Result, q};
use crate::expose::exposure::{Exposure, Mode, MountRecord};
use crate::expose::pin::{Pin, resolve_pin};
use crate::expose::place::{exists_error, split};
use crate::fs::mounts;
use crate::fs::paths::{self, Dir, Made};
use crate::sys::{SysError, ns};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// `path` as named in errors about process `pid`'s mount namespace.
pub fn in_container(path: &Path, pid: u32) -> String {
    format!("{} in process {pid}'s mount namespace", q(path))
}

/// The error of a write refused with `EROFS` inside the container: its
/// filesystem there is read-only (`runc spec` makes the root read-only).
fn read_only(err: Error, path: &Path, pid: u32) -> Error {
    err.with_message(format!(
        "Cannot expose at {}: the container's filesystem is read-only there",
        in_container(path, pid)
    ))
    .with_hint(
        "make the container's root writable (\"root\": {\"readonly\": false} in its config.json), \
         or expose into a writable mount of the container, such as a tmpfs at /run",
    )
}

/// Opens the directory `dir` inside (from `root`), making what is missing
/// when `parents` ([`Dir::open_making`]: no symlink, no mount crossed onto
/// what it made); returns it and the directories made, to undo.
fn open_parent(
    root: &Dir,
    dir: &Path,
    path: &Path,
    pid: u32,
    parents: bool,
) -> Result<(Dir, Made)> {
    let fail = |e: SysError| {
        let err =
            Error::sys(format!("Cannot expose at {}", in_container(path, pid)), e).with_path(path);
        match err.errno {
            libc::ELOOP => err
                .with_kind(Kind::Invalid)
                .with_message(format!(
                    "Cannot expose at {}: a directory on the way to it is a symlink",
                    in_container(path, pid)
                ))
                .with_hint("bpfx follows no symlink inside a container: give the real path"),
            libc::ENOENT => err
                .with_message(format!(
                    "Cannot expose at {}: the directory {} does not exist there",
                    in_container(path, pid),
                    q(dir)
                ))
                .with_hint("make it first, or give --parents"),
            libc::EROFS => read_only(err, path, pid),
            _ => err,
        }
    };
    if !parents {
        return Ok((Dir::open_in(root, dir).map_err(fail)?, Made::default()));
    }
    let top = Dir::open_in(root, Path::new("/")).map_err(fail)?;
    let rel: PathBuf = dir.components().skip(1).collect();
    top.open_making(&rel, 0o755).map_err(fail)
}

/// Moves the detached mount `tree` onto a new empty file at `path` inside
/// `p`'s mount namespace; returns the mount as it is there.
pub(super) fn place(
    p: &Process,
    tree: BorrowedFd<'_>,
    path: &Path,
    parents: bool,
) -> Result<MountRecord> {
    let pid = p.ns.pid;
    let (dir, name) = split(path)?;
    p.enter("expose into", |root, _| {
        let (d, made) = open_parent(root, &dir, path, pid, parents)?;
        let placed = d
            .create_excl(&name, 0o000)
            .map_err(|e| {
                if e.errno() == libc::EEXIST {
                    exists_error(path).with_message(format!(
                        "Cannot expose at {}: a file is already there, and bpfx never replaces one",
                        in_container(path, pid)
                    ))
                } else {
                    let err =
                        Error::sys(format!("Cannot expose at {}", in_container(path, pid)), e)
                            .with_path(path);
                    if err.errno == libc::EROFS {
                        read_only(err, path, pid)
                    } else {
                        err
                    }
                }
            })
            .and_then(|file| {
                drop(file);
                let moved = d.mount_at(tree, &name).and_then(|()| paths::mount_id(tree));
                moved.map_err(|e| {
                    let _ = d.unlink(&name);
                    Error::sys(
                        format!("Cannot bind the pin onto {}", in_container(path, pid)),
                        e,
                    )
                    .with_path(path)
                })
            });
        match placed {
            Ok(id) => Ok(MountRecord::from(id)),
            Err(e) => {
                made.undo();
                Err(e)
            }
        }
    })
}

/// What to expose into: a PID, and the start time the caller knows it by.
#[derive(Debug, Clone, Copy)]
pub struct Into {
    pub pid: u32,
    pub start_time: Option<u64>,
}

/// An exposure into a container, checked and not made yet: [`prepare_into`]
/// makes it, and the state part records it as [`IntoPrepared::make`] makes
/// it.
pub struct IntoPrepared {
    /// The exposure to record (`mount` is filled in as it is made).
    pub exposure: Exposure,
    proc: Process,
    tree: OwnedFd,
    parents: bool,
}

impl IntoPrepared {
    /// Puts the mount at `x`'s path inside the namespace (making missing
    /// directories with `parents`); returns the mount made.
    pub fn make(&self, x: &Exposure) -> Result<MountRecord> {
        place(&self.proc, self.tree.as_fd(), &x.path, self.parents)
    }
}

/// Checks that the object pinned at `pin` can be put at `path` inside the
/// mount namespace of process `into`, as a read-only bind mount, and takes
/// that mount; nothing is made inside yet.
pub fn prepare_into(pin: &Path, path: &Path, into: Into, parents: bool) -> Result<IntoPrepared> {
    let given = mounts::absolute(pin);
    check_into_path(path)?;
    let pin = resolve_pin(&given)?;
    pin.check_bind(&given)?;
    let proc = Process::open(into.pid, into.start_time, "expose into")?;
    let (exposure, tree) = prepare(&given, &pin, path, &proc)?;
    Ok(IntoPrepared {
        exposure,
        proc,
        tree,
        parents,
    })
}

/// The exposure of `pin` at `path` in `proc`'s namespace, not made yet, and
/// the detached read-only mount of the pin to make it with.
pub(super) fn prepare(
    given: &Path,
    pin: &Pin,
    path: &Path,
    proc: &Process,
) -> Result<(Exposure, OwnedFd)> {
    let tree = paths::clone_tree(pin.fd.as_fd())
        .and_then(|t| ns::mount_read_only(t.as_fd()).map(|()| t))
        .map_err(|e| {
            Error::sys(format!("Cannot take {} as a mount", q(given)), e).with_path(given)
        })?;
    let x = Exposure {
        pin: pin.real(),
        path: path.to_path_buf(),
        mode: Mode::Bind,
        object_id: pin.id,
        kind: pin.kind_name().into(),
        mount: None,
        into: Some(proc.ns),
    };
    Ok((x, tree))
}
