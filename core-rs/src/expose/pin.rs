//! The pin of an exposure, resolved once: an `O_PATH` fd on its inode on
//! bpffs, its real directory, the object's id and kind; and the rule that a
//! bind mount of it never widens access. Shared by exposures on the host
//! and inside containers.

use crate::error::{Error, Kind, Result, q};
use crate::expose::exposure::Exposure;
use crate::fs::mounts::BPF_FS_MAGIC;
use crate::fs::paths::{self, Dir};
use crate::kernel::info::{self, ObjKind};
use crate::kernel::pins;
use crate::sys::fs::Stat;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

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
pub struct Pin {
    pub fd: OwnedFd,
    dir: Dir,
    name: String,
    st: Stat,
    pub id: u32,
    pub kind: ObjKind,
}

impl Pin {
    /// The object's kind as exposures record it: `prog`, `map` or `link`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ObjKind::Prog => "prog",
            ObjKind::Map => "map",
            ObjKind::Link => "link",
        }
    }

    pub fn real(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    /// Refuses a bind mount of this pin that would widen access
    /// ([`check_no_widening`]); `given` is the caller's spelling.
    pub fn check_bind(&self, given: &Path) -> Result<()> {
        let dirs = paths::ancestors(&self.dir).map_err(|e| pin_error(given, e))?;
        check_no_widening(given, &self.st, &dirs)
    }
}

fn pin_error(pin: &Path, e: crate::sys::SysError) -> Error {
    Error::sys(format!("Cannot expose {}", q(pin)), e).with_path(pin)
}

/// Resolves the pin the caller named (its own spelling, symlinks followed)
/// into a [`Pin`]: the inode on bpffs, and the object it holds.
pub fn resolve_pin(given: &Path) -> Result<Pin> {
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

/// An `O_PATH` fd on the recorded pin (its real path, opened with no
/// symlink), if it still holds the object exposed.
pub fn open_recorded_pin(x: &Exposure) -> Option<OwnedFd> {
    let (dir, name) = paths::split(&x.pin)?;
    let fd = Dir::open(dir).ok()?.open_path(name).ok()?;
    let obj = paths::obj_get_fd(fd.as_fd()).ok()?;
    let kind = info::kind_of(obj.as_fd())?;
    (info::info_of_kind(obj.as_fd(), kind).ok()?.id == x.object_id).then_some(fd)
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
}
