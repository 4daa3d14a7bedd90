//! Exposures: a pinned object put at a path outside bpffs, as a symlink to
//! the pin or as a bind mount of the pin onto a file made for it, recorded in
//! the manifest so that the watcher can remove it when the pin goes.
//!
//! Everything goes through handles ([`crate::fs::paths`]): the pin is resolved
//! once into an fd, checked, and bound from that fd; the exposure's
//! directory is opened with no symlink on the way and everything below is
//! relative to it, so nothing planted in the path can redirect it, and an
//! existing file is never replaced. A bind exposure is known by its mount
//! (its ids and the bpffs inode it shows): it is checked and unmounted
//! through an fd on that mount, wherever its directory has been moved. A
//! manifest entry is acted on only where it is verifiably bpfx's own; the
//! rest is reported and left alone. An exposure never widens access: a
//! symlink leaves the pin's own path in charge, and a bind mount is refused
//! when anyone could reach the pin through it who cannot now.

use crate::error::{Error, Kind, Result, q};
use crate::expose::exposure::{Exposure, Mode, MountRecord};
use crate::expose::pin::{Pin, open_recorded_pin, resolve_pin};
use crate::expose::place::{Removal, exists_error, is_our_mount, remove_placeholder, split};
use crate::fs::mounts::{self, BPF_FS_MAGIC};
use crate::fs::paths::{self, Dir, Made, MountId};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Opens the directory `dir` of the exposure at `path`, with no symlink on
/// the way; with `parents`, makes what is missing of it (mode 0755) by
/// handle from `/` ([`Dir::open_making`]), and returns what it made.
fn open_parent(dir: &Path, path: &Path, parents: bool) -> Result<(Dir, Made)> {
    let opened = if parents {
        Dir::open(Path::new("/")).and_then(|root| {
            let rel: PathBuf = dir.components().skip(1).collect();
            root.open_making(&rel, 0o755)
        })
    } else {
        Dir::open(dir).map(|d| (d, Made::default()))
    };
    opened.map_err(|e| {
        let err = Error::sys(format!("Cannot expose at {}", q(path)), e).with_path(path);
        match err.errno {
            libc::ELOOP => err
                .with_kind(Kind::Invalid)
                .with_message(format!(
                    "Cannot expose at {}: a directory on the way to it is a symlink",
                    q(path)
                ))
                .with_hint("bpfx follows no symlink to make an exposure: give the real path"),
            libc::ENOENT => err
                .with_message(format!(
                    "Cannot expose at {}: the directory {} does not exist",
                    q(path),
                    q(dir)
                ))
                .with_hint("make the directory first, or give --parents"),
            _ => err,
        }
    })
}

/// An exposure on the host, checked and not made yet: [`prepare`] makes
/// it, and the state part records it as [`Prepared::make`] makes it.
pub struct Prepared {
    /// The exposure to record (`mount` is filled in as it is made).
    pub exposure: Exposure,
    pin: Pin,
    dir: Dir,
    name: String,
    made: Made,
}

impl Prepared {
    /// Removes the directories that [`prepare`] made for the exposure
    /// (with `parents`): for when it could not be made or recorded.
    pub fn undo(self) {
        self.made.undo();
    }

    /// Makes the exposure `x` (this one, as recorded); for a bind, returns
    /// the mount made. It undoes itself when it fails.
    pub fn make(&self, x: &Exposure) -> Result<Option<MountRecord>> {
        make(x, self.pin.fd.as_fd(), &self.dir, &self.name)
    }
}

/// Checks that the object pinned at `pin` can be put at `path`, with
/// nothing made yet but, with `parents`, the missing directories of `path`
/// ([`Prepared::undo`] removes them).
pub fn prepare(pin: &Path, path: &Path, mode: Mode, parents: bool) -> Result<Prepared> {
    let given = mounts::absolute(pin);
    let path = mounts::absolute(path);
    let p = resolve_pin(&given)?;
    if mode == Mode::Bind {
        p.check_bind(&given)?;
    }
    let (dir, name) = split(&path)?;
    let (dirfd, made) = open_parent(&dir, &path, parents)?;
    if dirfd.magic().is_ok_and(|m| m == BPF_FS_MAGIC) {
        made.undo();
        return Err(Error::invalid(
            "expose",
            format!(
                "Cannot expose at {}: it is on bpffs; pin there instead",
                q(&path)
            ),
        )
        .with_path(&path));
    }
    let exposure = Exposure {
        pin: p.real(),
        path: path.clone(),
        mode,
        object_id: p.id,
        kind: p.kind_name().into(),
        mount: None,
        into: None,
    };
    Ok(Prepared {
        exposure,
        pin: p,
        dir: dirfd,
        name,
        made,
    })
}

/// Makes the exposure `x` of the pin inode `pin` at `name` in `dir`; for a
/// bind, returns the mount made.
fn make(x: &Exposure, pin: BorrowedFd<'_>, dir: &Dir, name: &str) -> Result<Option<MountRecord>> {
    let fail = |e: crate::sys::SysError| {
        if e.errno() == libc::EEXIST {
            exists_error(&x.path)
        } else {
            Error::sys(format!("Cannot expose at {}", q(&x.path)), e).with_path(&x.path)
        }
    };
    match x.mode {
        Mode::Symlink => dir.symlink(&x.pin, name).map(|()| None).map_err(fail),
        Mode::Bind => {
            drop(dir.create_excl(name, 0o000).map_err(fail)?);
            let mounted = paths::clone_tree(pin).and_then(|tree| {
                dir.mount_at(tree.as_fd(), name)?;
                paths::mount_id(tree.as_fd())
            });
            match mounted {
                Ok(id) => Ok(Some(id.into())),
                Err(e) => {
                    let _ = dir.unlink(name);
                    Err(
                        Error::sys(format!("Cannot bind {} onto {}", q(&x.pin), q(&x.path)), e)
                            .with_path(&x.path),
                    )
                }
            }
        }
    }
}

/// Makes a recorded exposure again (its file went, its pin is still there
/// and holds the object exposed); returns it as made now.
pub fn remake(x: &Exposure) -> Result<Exposure> {
    let pin = open_recorded_pin(x).ok_or_else(|| {
        Error::new(
            Kind::NotFound,
            "BPF_OBJ_GET",
            format!(
                "Cannot expose {} again: it no longer holds the object exposed",
                q(&x.pin)
            ),
        )
        .with_path(&x.pin)
    })?;
    let (dir, name) = split(&x.path)?;
    let (dirfd, _) = open_parent(&dir, &x.path, false)?;
    let mut out = x.clone();
    out.mount = make(x, pin.as_fd(), &dirfd, &name)?;
    Ok(out)
}

/// Whether the recorded pin's place is on bpffs (its nearest directory
/// that is still there): a manifest entry naming anything else is not an
/// exposure bpfx made.
fn pin_on_bpffs(pin: &Path) -> bool {
    pin.ancestors()
        .skip(1)
        .find_map(|d| Dir::open(d).ok())
        .is_some_and(|d| d.magic().is_ok_and(|m| m == BPF_FS_MAGIC))
}

/// Removes the exposure's file (and mount) on the host, touching nothing
/// that is not verifiably bpfx's own.
pub fn remove(x: &Exposure) -> Result<Removal> {
    let (dir, name) = split(&x.path)?;
    let fail = |e: crate::sys::SysError| {
        Error::sys(format!("Cannot remove exposure {}", q(&x.path)), e).with_path(&x.path)
    };
    let d = match Dir::open(&dir) {
        Ok(d) => Some(d),
        Err(e) if e.errno() == libc::ENOENT => None,
        Err(e) if e.errno() == libc::ELOOP => None,
        Err(e) => return Err(fail(e)),
    };
    match x.mode {
        Mode::Symlink => {
            let Some(d) = d else { return Ok(Removal::Gone) };
            match d.readlink(&name) {
                Err(e) if e.errno() == libc::ENOENT => Ok(Removal::Gone),
                Err(e) if e.errno() == libc::EINVAL => {
                    Ok(Removal::NotOurs("it is not a symlink now".into()))
                }
                Err(e) => Err(fail(e)),
                Ok(t) if t != x.pin => Ok(Removal::NotOurs(format!(
                    "it is a symlink to {} now",
                    q(&t)
                ))),
                Ok(_) if !pin_on_bpffs(&x.pin) => {
                    Ok(Removal::NotOurs("the pin it names is not on bpffs".into()))
                }
                Ok(_) => {
                    d.unlink(&name).map_err(fail)?;
                    Ok(Removal::Removed { moved_to: None })
                }
            }
        }
        Mode::Bind => {
            let Some(rec) = x.mount else {
                return Ok(Removal::NotOurs(
                    "the manifest does not record its mount (made by an older bpfx): unmount it by hand".into(),
                ));
            };
            let id = MountId::from(rec);
            if let Some(d) = &d
                && let Ok(fd) = d.open_path(&name)
                && is_our_mount(fd.as_fd(), &id)
            {
                paths::umount(fd.as_fd()).map_err(fail)?;
                remove_placeholder(d, &name);
                return Ok(Removal::Removed { moved_to: None });
            }
            // Not at its path: its directory was moved, or it is gone.
            if let Some((fd, pd, pn)) = paths::find_mount(&id)
                && is_our_mount(fd.as_fd(), &id)
            {
                paths::umount(fd.as_fd()).map_err(fail)?;
                remove_placeholder(&pd, &pn);
                return Ok(Removal::Removed {
                    moved_to: Some(pd.path().join(pn)),
                });
            }
            if paths::is_mounted_id(id.mnt_id) && d.is_none() {
                // Still mounted, somewhere bpfx could not open safely: keep
                // the record, to try again.
                return Err(Error::new(
                    Kind::Busy,
                    "umount2",
                    format!(
                        "Cannot remove exposure {}: its directory keeps changing under it",
                        q(&x.path)
                    ),
                )
                .with_path(&x.path)
                .with_hint("try again; bpfx follows the mount by its id"));
            }
            let Some(d) = d else { return Ok(Removal::Gone) };
            match d.stat(&name) {
                Err(_) => Ok(Removal::Gone),
                Ok(st) if st.dev != d.stat("").map(|s| s.dev).unwrap_or(st.dev) => Ok(
                    Removal::NotOurs("another mount, not the one bpfx made, is there".into()),
                ),
                Ok(_) => {
                    remove_placeholder(&d, &name);
                    Ok(Removal::Gone)
                }
            }
        }
    }
}

/// The state of the exposure `x` on the host, its pin known to hold the
/// object exposed: `ok`, `path-gone`, `unmounted` or `moved`.
pub fn state_here(x: &Exposure) -> &'static str {
    let here = paths::split(&x.path).and_then(|(d, n)| Some((Dir::open(d).ok()?, n)));
    match x.mode {
        Mode::Symlink => match here {
            Some((d, n)) if d.links_to(n, &x.pin) => "ok",
            _ => "path-gone",
        },
        Mode::Bind => {
            let id = x.mount.map(MountId::from);
            match (here, id) {
                (Some((d, n)), Some(id))
                    if d.open_path(n).is_ok_and(|fd| is_our_mount(fd.as_fd(), &id)) =>
                {
                    "ok"
                }
                (_, Some(id))
                    if paths::find_mount(&id)
                        .is_some_and(|(fd, ..)| is_our_mount(fd.as_fd(), &id)) =>
                {
                    "moved"
                }
                (Some((d, n)), _) if d.stat(n).is_ok() => "unmounted",
                _ => "path-gone",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_on_the_way_is_refused_clearly() {
        use crate::sys;
        let _g = sys::fake::install(|c| match c {
            sys::Call::Named { op: "openat2" } => sys::fake::errno(libc::ELOOP),
            _ => None,
        });
        let e = open_parent(Path::new("/srv/link"), Path::new("/srv/link/x"), false).unwrap_err();
        assert_eq!(e.kind, Kind::Invalid);
        assert_eq!(e.op, "openat2");
        assert_eq!(
            e.message,
            "Cannot expose at \"/srv/link/x\": a directory on the way to it is a symlink"
        );
    }
}
