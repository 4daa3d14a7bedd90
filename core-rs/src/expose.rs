//! Exposures: a pinned object put at a path outside bpffs, as a symlink to
//! the pin or as a bind mount of the pin onto a file made for it, recorded in
//! the manifest so that the watcher can remove it when the pin goes.
//!
//! The exposure's directory is opened with `openat2(RESOLVE_NO_SYMLINKS)`
//! and everything below is done relative to that fd, so a symlink planted
//! in the path cannot redirect it; an existing file is never replaced. An
//! exposure never widens access: a symlink is checked against the pin's own
//! mode, and a bind mount shows the pin's inode itself.

use crate::error::{Error, Kind, Result, q};
use crate::info::{self, ObjKind};
use crate::manifest::{self, Exposure, Mode};
use crate::mounts;
use crate::pins;
use crate::sys::fs;
use serde::Serialize;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

fn split(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && *n != "..");
    match (path.parent(), name) {
        (Some(dir), Some(name)) if path.is_absolute() => Ok((dir.to_path_buf(), name.to_string())),
        _ => Err(Error::invalid(
            "expose",
            format!(
                "Cannot expose at {}: give an absolute path to a file",
                q(path)
            ),
        )
        .with_path(path)),
    }
}

fn open_parent(dir: &Path, path: &Path) -> Result<OwnedFd> {
    fs::open_dir_nofollow(dir).map_err(|e| {
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
                .with_hint("make the directory first"),
            _ => err,
        }
    })
}

fn exists_error(path: &Path) -> Error {
    Error::new(
        Kind::Exists,
        "symlinkat",
        format!(
            "Cannot expose at {}: a file is already there, and bpfx never replaces one",
            q(path)
        ),
    )
    .with_path(path)
    .with_hint("remove it, or choose another path")
}

/// Refuses a bind mount that would let someone reach the pin who cannot now:
/// a bind mount shows the pin's own mode, but not the directories that
/// guard it, so a pin readable by others behind a closed directory (bpffs
/// is often mounted mode 0700) must not be bound into an open one.
pub fn check_no_widening(pin: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let mode = std::fs::metadata(pin)
        .map_err(|e| Error::io(format!("Cannot expose {}", q(pin)), "stat", &e))?
        .mode();
    let granted = mode & 0o077;
    let mut reachable = granted;
    for dir in pin.ancestors().skip(1) {
        let Ok(m) = std::fs::metadata(dir) else {
            continue;
        };
        if m.mode() & 0o001 == 0 {
            reachable &= !0o007;
        }
        if m.mode() & 0o010 == 0 {
            reachable &= !0o070;
        }
    }
    if reachable != granted {
        return Err(Error::new(
            Kind::Permission,
            "expose",
            format!(
                "Cannot bind {} elsewhere: its mode {:04o} grants access that its directories withhold, so the bind mount would widen access",
                q(pin),
                mode & 0o7777
            ),
        )
        .with_path(pin)
        .with_hint("narrow the pin's mode first (chmod go-rwx), or expose it as a symlink"));
    }
    Ok(())
}

/// Puts the object pinned at `pin` at `path`, and records it in `state`.
pub fn expose(state: &Path, pin: &Path, path: &Path, mode: Mode) -> Result<Exposure> {
    let pin = mounts::absolute(pin);
    let path = mounts::absolute(path);
    let (fd, kind) = pins::open(&pin, None)?;
    let id = info::info_of_kind(fd.as_fd(), kind)?.id;
    drop(fd);
    if mode == Mode::Bind {
        check_no_widening(&pin)?;
    }
    let (dir, name) = split(&path)?;
    if mounts::is_bpffs(&dir) {
        return Err(Error::invalid(
            "expose",
            format!(
                "Cannot expose at {}: it is on bpffs; pin there instead",
                q(&path)
            ),
        )
        .with_path(&path));
    }
    let dirfd = open_parent(&dir, &path)?;
    let kind_name = match kind {
        ObjKind::Prog => "prog",
        ObjKind::Map => "map",
        ObjKind::Link => "link",
    };
    let exposure = Exposure {
        pin: pin.clone(),
        path: path.clone(),
        mode,
        object_id: id,
        kind: kind_name.into(),
    };
    let mut made = false;
    let recorded = manifest::update(state, |m| {
        if m.exposures.iter().any(|x| x.path == path) {
            return Err(exists_error(&path));
        }
        make(&exposure, dirfd.as_fd(), &name)?;
        made = true;
        m.exposures.push(exposure.clone());
        Ok(())
    });
    if let Err(e) = recorded {
        // `make` undoes itself when it fails; if the manifest could not be
        // written after it, the exposure goes too: nothing half-made.
        if made {
            let _ = remove_physical(&exposure);
        }
        return Err(e);
    }
    Ok(exposure)
}

fn make(x: &Exposure, dir: std::os::fd::BorrowedFd<'_>, name: &str) -> Result<()> {
    match x.mode {
        Mode::Symlink => fs::symlink_at(&x.pin, dir, name).map_err(|e| {
            if e.errno() == libc::EEXIST {
                exists_error(&x.path)
            } else {
                Error::sys(format!("Cannot expose at {}", q(&x.path)), e)
            }
        }),
        Mode::Bind => {
            let placeholder = fs::create_excl(dir, name, 0o000).map_err(|e| {
                if e.errno() == libc::EEXIST {
                    exists_error(&x.path)
                } else {
                    Error::sys(format!("Cannot expose at {}", q(&x.path)), e)
                }
            })?;
            drop(placeholder);
            let mounted = fs::open_tree_clone(&x.pin)
                .and_then(|tree| fs::move_mount_to(tree.as_fd(), dir, name));
            if let Err(e) = mounted {
                let _ = fs::unlink_at(dir, name);
                return Err(Error::sys(
                    format!("Cannot bind {} onto {}", q(&x.pin), q(&x.path)),
                    e,
                )
                .with_path(&x.path));
            }
            Ok(())
        }
    }
}

/// Makes a recorded exposure again (its file went, its pin is still there).
pub fn remake(x: &Exposure) -> Result<()> {
    let (dir, name) = split(&x.path)?;
    let dirfd = open_parent(&dir, &x.path)?;
    make(x, dirfd.as_fd(), &name)
}

/// Whether a mount sits at `path`: the file there is on another device
/// than its directory (a bound pin is on bpffs, and no exposure is).
pub fn is_mounted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let dev = |p: &Path| std::fs::symlink_metadata(p).map(|m| m.dev()).ok();
    match (dev(path), path.parent().and_then(dev)) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

/// Removes the exposure's file (and mount), touching nothing that is not ours.
pub fn remove_physical(x: &Exposure) -> Result<()> {
    let (dir, name) = split(&x.path)?;
    let dirfd = match fs::open_dir_nofollow(&dir) {
        Ok(fd) => fd,
        Err(e) if e.errno() == libc::ENOENT => return Ok(()),
        Err(e) => {
            return Err(Error::sys(
                format!("Cannot remove exposure {}", q(&x.path)),
                e,
            ));
        }
    };
    match x.mode {
        Mode::Symlink => {
            if std::fs::read_link(&x.path).is_ok_and(|t| t == x.pin) {
                fs::unlink_at(dirfd.as_fd(), &name)
                    .map_err(|e| Error::sys(format!("Cannot remove exposure {}", q(&x.path)), e))?;
            }
        }
        Mode::Bind => {
            while is_mounted(&x.path) {
                fs::umount_nofollow(&x.path).map_err(|e| {
                    Error::sys(format!("Cannot unmount exposure {}", q(&x.path)), e)
                })?;
            }
            match std::fs::symlink_metadata(&x.path) {
                Ok(m) if m.is_file() && m.len() == 0 => {
                    fs::unlink_at(dirfd.as_fd(), &name).map_err(|e| {
                        Error::sys(format!("Cannot remove exposure {}", q(&x.path)), e)
                    })?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Removes the exposure at `path` and forgets it.
pub fn unexpose(state: &Path, path: &Path) -> Result<Exposure> {
    let path = mounts::absolute(path);
    manifest::update(state, |m| {
        let i = m
            .exposures
            .iter()
            .position(|x| x.path == path)
            .ok_or_else(|| {
                Error::new(
                    Kind::NotFound,
                    "unexpose",
                    format!(
                        "No exposure at {} in state directory {}",
                        q(&path),
                        q(state)
                    ),
                )
                .with_path(&path)
                .with_hint("`bpfx exposures` lists them")
            })?;
        let x = m.exposures.remove(i);
        remove_physical(&x)?;
        Ok(x)
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposureState {
    #[serde(flatten)]
    pub exposure: Exposure,
    /// `ok`, `pin-gone` (the pin was removed or now holds another object),
    /// `path-gone` (the exposure's file was removed), or `unmounted`.
    pub state: &'static str,
}

/// The state of one exposure, read from the kernel and the filesystems.
pub fn state_of(x: &Exposure) -> &'static str {
    let pin_ok = pins::open(&x.pin, None)
        .ok()
        .and_then(|(fd, k)| info::info_of_kind(fd.as_fd(), k).ok())
        .is_some_and(|i| i.id == x.object_id);
    if !pin_ok {
        return "pin-gone";
    }
    match x.mode {
        Mode::Symlink if std::fs::read_link(&x.path).is_ok_and(|t| t == x.pin) => "ok",
        Mode::Symlink => "path-gone",
        Mode::Bind if is_mounted(&x.path) => "ok",
        Mode::Bind if std::fs::symlink_metadata(&x.path).is_ok() => "unmounted",
        Mode::Bind => "path-gone",
    }
}

/// Every exposure recorded in `state`, with its state.
pub fn list(state: &Path) -> Result<Vec<ExposureState>> {
    Ok(manifest::read(state)?
        .exposures
        .into_iter()
        .map(|x| ExposureState {
            state: state_of(&x),
            exposure: x,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bind_that_would_widen_access_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = std::env::temp_dir().join(format!("bpfx-widen-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("pin");
        std::fs::write(&f, b"").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        let e = check_no_widening(&f).unwrap_err();
        assert_eq!(e.kind, Kind::Permission);
        assert!(e.message.contains("would widen access"), "{}", e.message);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            check_no_widening(&f).is_ok(),
            "an owner-only pin widens nothing"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn paths_must_be_absolute_files() {
        assert!(split(Path::new("rel/x")).is_err());
        assert!(split(Path::new("/")).is_err());
        assert_eq!(
            split(Path::new("/a/b")).unwrap(),
            (PathBuf::from("/a"), "b".to_string())
        );
    }

    #[test]
    fn a_symlink_on_the_way_is_refused_clearly() {
        use crate::sys;
        let _g = sys::fake::install(|c| match c {
            sys::Call::Named { op: "openat2" } => sys::fake::errno(libc::ELOOP),
            _ => None,
        });
        let e = open_parent(Path::new("/srv/link"), Path::new("/srv/link/x")).unwrap_err();
        assert_eq!(e.kind, Kind::Invalid);
        assert_eq!(e.op, "openat2");
        assert_eq!(
            e.message,
            "Cannot expose at \"/srv/link/x\": a directory on the way to it is a symlink"
        );
    }
}
