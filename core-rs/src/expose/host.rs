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
use crate::fs::mounts::{self, BPF_FS_MAGIC};
use crate::fs::paths::{self, Dir, MountId};
use crate::kernel::info::{self, ObjKind};
use crate::kernel::pins;
use crate::state::manifest;
use crate::sys::fs::Stat;
use serde::Serialize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub(crate) fn split(path: &Path) -> Result<(PathBuf, String)> {
    match paths::split(path) {
        Some((dir, name)) => Ok((dir.to_path_buf(), name.to_string())),
        None => Err(Error::invalid(
            "expose",
            format!(
                "Cannot expose at {}: give an absolute path to a file",
                q(path)
            ),
        )
        .with_path(path)),
    }
}

fn open_parent(dir: &Path, path: &Path) -> Result<Dir> {
    Dir::open(dir).map_err(|e| {
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

pub(crate) fn exists_error(path: &Path) -> Error {
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

/// Whether a principal passes through every directory of `dirs`.
fn traverses(dirs: &[Stat], can: impl Fn(&Stat) -> bool) -> bool {
    dirs.iter().all(can)
}

/// Refuses a bind mount that would let someone reach the pin who cannot now.
/// A bind mount shows the pin's inode itself, but not the directories that
/// guard it. `st` is the pin's inode and `dirs` its real ancestors (walked
/// by handles, so no spelling of the path gets around this): the pin's owner
/// (who could chmod it through the bind), its group and others must each
/// reach it now, through every ancestor, for the bind to be allowed.
/// Supplementary groups are not known here, so the check errs on refusing.
pub fn check_no_widening(pin: &Path, st: &Stat, dirs: &[Stat]) -> Result<()> {
    let refuse = |why: String, hint: &str| {
        Err(Error::new(
            Kind::Permission,
            "expose",
            format!(
                "Cannot bind {} elsewhere: {why}, so the bind mount would widen access",
                q(pin)
            ),
        )
        .with_path(pin)
        .with_hint(hint.to_string()))
    };
    let mode = st.mode & 0o7777;
    let others = |d: &Stat| d.mode & 0o001 != 0;
    if st.uid != 0
        && !traverses(dirs, |d| {
            others(d) || (d.uid == st.uid && d.mode & 0o100 != 0)
        })
    {
        return refuse(
            format!(
                "it belongs to uid {}, whom its directories keep out (and who could change its mode through the bind)",
                st.uid
            ),
            "give the pin to root first (chown root), or expose it as a symlink",
        );
    }
    if mode & 0o070 != 0
        && !traverses(dirs, |d| {
            others(d) || (d.gid == st.gid && d.mode & 0o010 != 0)
        })
    {
        return refuse(
            format!("its mode {mode:04o} grants its group access that its directories withhold"),
            "narrow the pin's mode first (chmod go-rwx), or expose it as a symlink",
        );
    }
    if mode & 0o007 != 0 && !traverses(dirs, others) {
        return refuse(
            format!("its mode {mode:04o} grants others access that its directories withhold"),
            "narrow the pin's mode first (chmod go-rwx), or expose it as a symlink",
        );
    }
    Ok(())
}

/// A pin resolved once: an `O_PATH` fd on its inode, its real directory
/// (opened with no symlink) and name, and the object's id and kind.
pub(crate) struct Pin {
    pub(crate) fd: OwnedFd,
    dir: Dir,
    name: String,
    st: Stat,
    pub(crate) id: u32,
    pub(crate) kind: ObjKind,
}

impl Pin {
    pub(crate) fn real(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    /// Refuses a bind mount of this pin that would widen access
    /// ([`check_no_widening`]); `given` is the caller's spelling.
    pub(crate) fn check_bind(&self, given: &Path) -> Result<()> {
        let dirs = paths::ancestors(&self.dir).map_err(|e| pin_error(given, e))?;
        check_no_widening(given, &self.st, &dirs)
    }
}

fn pin_error(pin: &Path, e: crate::sys::SysError) -> Error {
    Error::sys(format!("Cannot expose {}", q(pin)), e).with_path(pin)
}

/// Resolves the pin the caller named (its own spelling, symlinks followed)
/// into a [`Pin`]: the inode on bpffs, and the object it holds.
pub(crate) fn resolve_pin(given: &Path) -> Result<Pin> {
    // The usual checks and messages (not found, not bpffs, kind) first.
    let (_, kind) = pins::open(given, None)?;
    let fd = paths::open_object(given).map_err(|e| pin_error(given, e))?;
    if !matches!(crate::sys::fs::fs_magic_fd(fd.as_fd()), Ok(BPF_FS_MAGIC)) {
        return Err(Error::new(
            Kind::NotBpffs,
            "fstatfs",
            format!("Cannot expose {}: the path is not on bpffs", q(given)),
        )
        .with_path(given));
    }
    let obj = paths::obj_get_fd(fd.as_fd()).map_err(|e| pin_error(given, e))?;
    let id = info::info_of_kind(obj.as_fd(), kind)?.id;
    let (dir, name, st) = paths::parent_of(fd.as_fd()).map_err(|e| pin_error(given, e))?;
    Ok(Pin {
        fd,
        dir,
        name,
        st,
        id,
        kind,
    })
}

/// Puts the object pinned at `pin` at `path`, and records it in `state`.
pub fn expose(state: &Path, pin: &Path, path: &Path, mode: Mode) -> Result<Exposure> {
    let given = mounts::absolute(pin);
    let path = mounts::absolute(path);
    let p = resolve_pin(&given)?;
    if mode == Mode::Bind {
        p.check_bind(&given)?;
    }
    let (dir, name) = split(&path)?;
    let dirfd = open_parent(&dir, &path)?;
    if dirfd.magic().is_ok_and(|m| m == BPF_FS_MAGIC) {
        return Err(Error::invalid(
            "expose",
            format!(
                "Cannot expose at {}: it is on bpffs; pin there instead",
                q(&path)
            ),
        )
        .with_path(&path));
    }
    let mut exposure = Exposure {
        pin: p.real(),
        path: path.clone(),
        mode,
        object_id: p.id,
        kind: match p.kind {
            ObjKind::Prog => "prog",
            ObjKind::Map => "map",
            ObjKind::Link => "link",
        }
        .into(),
        mount: None,
        into: None,
    };
    let state = manifest::State::open(state, true)?.expect("made");
    let lock = state.lock()?;
    let mut made = false;
    let recorded = state.update(&lock, |m| {
        if m.exposures.iter().any(|x| x.same_place(&exposure)) {
            return Err(exists_error(&path));
        }
        exposure.mount = make(&exposure, p.fd.as_fd(), &dirfd, &name)?;
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
    let dirfd = open_parent(&dir, &x.path)?;
    let mut out = x.clone();
    out.mount = make(x, pin.as_fd(), &dirfd, &name)?;
    Ok(out)
}

/// An `O_PATH` fd on the recorded pin (its real path, opened with no
/// symlink), if it still holds the object exposed.
fn open_recorded_pin(x: &Exposure) -> Option<OwnedFd> {
    let (dir, name) = paths::split(&x.pin)?;
    let fd = Dir::open(dir).ok()?.open_path(name).ok()?;
    let obj = paths::obj_get_fd(fd.as_fd()).ok()?;
    let kind = info::kind_of(obj.as_fd())?;
    (info::info_of_kind(obj.as_fd(), kind).ok()?.id == x.object_id).then_some(fd)
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

/// Whether `fd` is the root of the mount `id` records, showing a bpffs
/// inode: the ids alone could be copied from another mount into a forged
/// manifest, but not the filesystem.
pub(crate) fn is_our_mount(fd: BorrowedFd<'_>, id: &MountId) -> bool {
    crate::sys::fs::stat_at(fd, "").is_ok_and(|st| id.is(&st))
        && crate::sys::fs::fs_magic_fd(fd).is_ok_and(|m| m == BPF_FS_MAGIC)
}

/// What [`remove_physical`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Removed (from where it was now, if it was moved).
    Removed { moved_to: Option<PathBuf> },
    /// Nothing of it was left.
    Gone,
    /// Something is there that bpfx cannot verify as its own: left alone.
    NotOurs(String),
}

/// Removes the empty placeholder file a bind exposure was mounted on, if
/// it is still the one bpfx made (an empty root-owned mode-0 file).
pub(crate) fn remove_placeholder(dir: &Dir, name: &str) {
    let (Ok(st), Ok(me)) = (dir.stat(name), dir.stat("")) else {
        return;
    };
    if st.is_file() && st.size == 0 && st.mode & 0o7777 == 0 && st.uid == 0 && st.dev == me.dev {
        let _ = dir.unlink(name);
    }
}

/// Removes the exposure's file (and mount), touching nothing that is not
/// verifiably bpfx's own.
pub fn remove_physical(x: &Exposure) -> Result<Removal> {
    if x.into.is_some() {
        return crate::expose::container::remove(x);
    }
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

/// What `unexpose` did: the exposure forgotten, and why anything at its
/// path was left alone.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unexposed {
    #[serde(flatten)]
    pub exposure: Exposure,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_alone: Option<String>,
}

/// Removes the exposure at `path` and forgets it: on the host, or with
/// `into` inside the container of that PID, as recorded.
pub fn unexpose(state: &Path, path: &Path, into: Option<u32>) -> Result<Unexposed> {
    let path = match into {
        None => mounts::absolute(path),
        Some(_) => path.to_path_buf(),
    };
    let there = |x: &Exposure| match into {
        None => x.into.is_none(),
        Some(pid) => x.into.is_some_and(|n| n.pid == pid),
    };
    manifest::update(state, |m| {
        let i = m
            .exposures
            .iter()
            .position(|x| x.path == path && there(x))
            .ok_or_else(|| {
                let at = match into {
                    None => q(&path),
                    Some(pid) => crate::expose::container::in_container(&path, pid),
                };
                Error::new(
                    Kind::NotFound,
                    "unexpose",
                    format!("No exposure at {at} in state directory {}", q(state)),
                )
                .with_path(&path)
                .with_hint("`bpfx exposures` lists them")
            })?;
        let x = m.exposures.remove(i);
        let left_alone = match remove_physical(&x)? {
            Removal::NotOurs(why) => Some(why),
            _ => None,
        };
        Ok(Unexposed {
            exposure: x,
            left_alone,
        })
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposureState {
    #[serde(flatten)]
    pub exposure: Exposure,
    /// `ok`, `pin-gone` (the pin was removed or now holds another object),
    /// `path-gone` (the exposure's file was removed), `unmounted`,
    /// `moved` (a bind exposure's mount is elsewhere: its directory moved),
    /// or `ns-gone` (the container's process it was made through is gone).
    pub state: &'static str,
}

/// The state of one exposure, read from the kernel and the filesystems.
pub fn state_of(x: &Exposure) -> &'static str {
    state_with(x, &mut PinCache::default())
}

/// Whether each pin holds its object, as found during one pass over many
/// exposures (40,000 symlinks of one pin check it once).
pub type PinCache = std::collections::HashMap<(PathBuf, u32), bool>;

/// [`state_of`], with the pins checked once per `cache`.
pub fn state_with(x: &Exposure, cache: &mut PinCache) -> &'static str {
    let pin_ok = *cache
        .entry((x.pin.clone(), x.object_id))
        .or_insert_with(|| open_recorded_pin(x).is_some());
    if !pin_ok {
        return "pin-gone";
    }
    if let Some(ns) = &x.into {
        return crate::expose::container::state_of(x, ns);
    }
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

/// Every exposure recorded in `state`, with its state.
pub fn list(state: &Path) -> Result<Vec<ExposureState>> {
    let mut cache = PinCache::default();
    Ok(manifest::read(state)?
        .exposures
        .into_iter()
        .map(|x| ExposureState {
            state: state_with(&x, &mut cache),
            exposure: x,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(mode: u32, uid: u32, gid: u32) -> Stat {
        Stat {
            mode,
            uid,
            gid,
            ino: 1,
            dev: 1,
            size: 0,
            mtime_ns: 0,
            mnt_id: 1,
            mnt_id_unique: None,
        }
    }

    #[test]
    fn a_bind_that_would_widen_access_is_refused() {
        let pin = Path::new("/sys/fs/bpf/x");
        let closed = [st(0o40700, 0, 0), st(0o40755, 0, 0)];
        let e = check_no_widening(pin, &st(0o100644, 0, 0), &closed).unwrap_err();
        assert_eq!(e.kind, Kind::Permission);
        assert!(e.message.contains("would widen access"), "{}", e.message);
        assert!(
            check_no_widening(pin, &st(0o100600, 0, 0), &closed).is_ok(),
            "a root-only pin widens nothing"
        );
        let open = [st(0o40755, 0, 0)];
        assert!(check_no_widening(pin, &st(0o100644, 0, 0), &open).is_ok());
    }

    #[test]
    fn a_user_owned_pin_behind_a_root_only_directory_is_refused() {
        let pin = Path::new("/sys/fs/bpf/x");
        let closed = [st(0o40700, 0, 0), st(0o40755, 0, 0)];
        let e = check_no_widening(pin, &st(0o100600, 1000, 1000), &closed).unwrap_err();
        assert!(e.message.contains("belongs to uid 1000"), "{}", e.message);
        let theirs = [st(0o40700, 1000, 0), st(0o40755, 0, 0)];
        assert!(
            check_no_widening(pin, &st(0o100600, 1000, 1000), &theirs).is_ok(),
            "its owner reaches it now"
        );
        let group_only = [st(0o40750, 0, 5), st(0o40755, 0, 0)];
        assert!(check_no_widening(pin, &st(0o100640, 0, 5), &group_only).is_ok());
        assert!(check_no_widening(pin, &st(0o100640, 0, 6), &group_only).is_err());
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
