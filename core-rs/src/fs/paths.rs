//! Path work by handle: the one place the core touches a filesystem path
//! that someone else could change, as `sys` is for syscalls.
//!
//! A path is resolved once, with `openat2` and `RESOLVE_NO_SYMLINKS`, into a
//! [`Dir`] handle; below it, trees are opened `RESOLVE_BENEATH` (never above
//! the handle) and, where a tree must stay on one mount, `RESOLVE_NO_XDEV`.
//! Every create, unlink, rmdir, symlink, readlink, stat, pin and mount is
//! then made relative to a handle, so a rename or a planted symlink between
//! two calls cannot redirect the second. A mount is known by its id (statx)
//! and unmounted through an fd on it, never by a path resolved again.

use crate::sys::fs::{self, DirEntry, Stat};
use crate::sys::{self, SysError, SysResult};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// `d_type` of a directory, a regular file and a symlink.
pub const DT_DIR: u8 = 4;
pub const DT_REG: u8 = 8;
pub const DT_LNK: u8 = 10;

const NO_LINKS: u64 = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

fn invalid(op: &'static str, why: &str) -> SysError {
    SysError {
        op,
        error: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string()),
    }
}

/// An open directory, and the path it was opened by (for messages only:
/// nothing is ever resolved through it again).
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Opens the absolute directory `path`, refusing a symlink anywhere on
    /// the way (ELOOP).
    pub fn open(path: &Path) -> SysResult<Dir> {
        if !path.is_absolute() {
            return Err(invalid("openat2", "the path is not absolute"));
        }
        let fd = fs::openat2(None, path, libc::O_RDONLY | libc::O_DIRECTORY, NO_LINKS)?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens directory `path` as the caller spelled it, symlinks followed:
    /// for a root the caller names, below which everything is by handle.
    pub fn open_following(path: &Path) -> SysResult<Dir> {
        let fd = fs::openat2(None, path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens the absolute directory `path`, making what is missing of it
    /// (mode `mode`), with no symlink on the way: what exists may be on
    /// another mount, what is made stays on its parent's.
    pub fn make_all(path: &Path, mode: u32) -> SysResult<Dir> {
        if !path.is_absolute() {
            return Err(invalid("openat2", "the path is not absolute"));
        }
        let root = Dir::open(Path::new("/"))?;
        let rel: PathBuf = path.components().skip(1).collect();
        // What is there may be on another mount (/run, a volume); what is
        // made stays on the mount it was made on. What was made is kept.
        let (mut d, _made) = root.open_making(&rel, mode)?;
        d.path = path.to_path_buf();
        Ok(d)
    }

    /// Opens the directory `path` inside the tree whose root is `root`
    /// (a container's `/`): resolved as if `root` were `/`
    /// (`RESOLVE_IN_ROOT`, so neither `..` nor an absolute symlink leaves
    /// it), and refusing any symlink on the way (ELOOP).
    pub fn open_in(root: &Dir, path: &Path) -> SysResult<Dir> {
        let rel = path.strip_prefix("/").unwrap_or(path);
        let name: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let fd = fs::openat2(
            Some(root.fd()),
            name,
            libc::O_RDONLY | libc::O_DIRECTORY,
            libc::RESOLVE_IN_ROOT | NO_LINKS,
        )?;
        Ok(Dir {
            fd,
            path: Path::new("/").join(rel),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Makes the directory `name` here (EEXIST if anything is there).
    pub fn mkdir(&self, name: &(impl AsRef<OsStr> + ?Sized), mode: u32) -> SysResult<()> {
        fs::mkdir_at(self.fd(), name, mode)
    }

    /// The path this handle was opened by, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the directory `rel` below this one: never above it, never
    /// through a symlink, and with `xdev` false never onto another mount.
    /// An empty `rel` is this directory again.
    pub fn open_rel(&self, rel: &Path, xdev: bool) -> SysResult<Dir> {
        let mut resolve = libc::RESOLVE_BENEATH | NO_LINKS;
        if !xdev {
            resolve |= libc::RESOLVE_NO_XDEV;
        }
        let open = |at: BorrowedFd<'_>, name: &Path| {
            fs::openat2(Some(at), name, libc::O_RDONLY | libc::O_DIRECTORY, resolve)
        };
        // One component at a time, each from the handle of the one before:
        // a path below a deep tree may pass PATH_MAX where no name does.
        let mut parts = rel.iter();
        let mut fd = open(self.fd(), Path::new(parts.next().unwrap_or(".".as_ref())))?;
        for part in parts {
            fd = open(fd.as_fd(), Path::new(part))?;
        }
        Ok(Dir {
            fd,
            path: self.path.join(rel),
        })
    }

    /// Opens `rel` below this one, making each missing directory with
    /// `mode`; the same rules as [`Dir::open_rel`].
    pub fn make_rel(&self, rel: &Path, mode: u32, xdev: bool) -> SysResult<Dir> {
        let mut cur = self.open_rel(Path::new(""), xdev)?;
        for c in rel.components() {
            let Component::Normal(name) = c else {
                return Err(invalid("mkdirat", "the path has a '..' or '.' component"));
            };
            match fs::mkdir_at(cur.fd(), name, mode) {
                Ok(()) => {}
                Err(e) if e.errno() == libc::EEXIST => {}
                Err(e) => return Err(e),
            }
            cur = cur.open_rel(Path::new(name), xdev)?;
        }
        Ok(cur)
    }

    /// `statx` of `name` in this directory (a final symlink not followed);
    /// an empty name is the directory itself.
    pub fn stat(&self, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<Stat> {
        fs::stat_at(self.fd(), name)
    }

    /// The filesystem magic of this directory's filesystem.
    pub fn magic(&self) -> SysResult<i64> {
        fs::fs_magic_fd(self.fd())
    }

    /// Every entry, `.` and `..` left out.
    pub fn entries(&self) -> SysResult<Vec<DirEntry>> {
        fs::read_dir_fd(self.fd())
    }

    pub fn unlink(&self, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<()> {
        fs::unlink_at(self.fd(), name)
    }

    pub fn rmdir(&self, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<()> {
        fs::rmdir_at(self.fd(), name)
    }

    /// Makes symlink `name` to `target`; never replaces anything.
    pub fn symlink(&self, target: &Path, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<()> {
        fs::symlink_at(target, self.fd(), name)
    }

    pub fn readlink(&self, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<PathBuf> {
        fs::readlink_at(self.fd(), name)
    }

    /// Whether `name` here is a symlink to exactly `target`.
    pub fn links_to(&self, name: &(impl AsRef<OsStr> + ?Sized), target: &Path) -> bool {
        self.readlink(name).is_ok_and(|t| t == target)
    }

    /// Opens file `name` here with `flags`, never following a symlink.
    pub fn open_file(
        &self,
        name: &(impl AsRef<OsStr> + ?Sized),
        flags: i32,
        mode: u32,
    ) -> SysResult<OwnedFd> {
        fs::open_at(self.fd(), name, flags, mode)
    }

    /// Creates the empty file `name` (`O_EXCL`: nothing is replaced).
    pub fn create_excl(
        &self,
        name: &(impl AsRef<OsStr> + ?Sized),
        mode: u32,
    ) -> SysResult<OwnedFd> {
        fs::create_excl(self.fd(), name, mode)
    }

    /// Renames `from` over `to`, both in this directory.
    pub fn rename(&self, from: &str, to: &str) -> SysResult<()> {
        fs::rename_at(self.fd(), from, to)
    }

    /// Moves `from` in this directory to `to` in `dest` (the same
    /// filesystem) in one step; `noreplace` refuses an existing `to`.
    pub fn rename_into(&self, from: &str, dest: &Dir, to: &str, noreplace: bool) -> SysResult<()> {
        fs::rename2_at(self.fd(), from, dest.fd(), to, noreplace)
    }

    /// `BPF_OBJ_GET` of the pin `name` here.
    pub fn obj_get(&self, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<OwnedFd> {
        sys::bpf_obj_get_at(self.fd(), Path::new(name.as_ref()))
    }

    /// Pins the object `fd` at `name` here.
    pub fn pin(&self, fd: BorrowedFd<'_>, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<()> {
        sys::bpf_obj_pin_at(fd, self.fd(), Path::new(name.as_ref()))
    }

    /// An `O_PATH` fd on what is at `name` now: the root of a mount on it
    /// when there is one. A symlink there is refused.
    pub fn open_path(&self, name: &(impl AsRef<OsStr> + ?Sized)) -> SysResult<OwnedFd> {
        fs::openat2(
            Some(self.fd()),
            Path::new(name.as_ref()),
            libc::O_PATH | libc::O_NOFOLLOW,
            libc::RESOLVE_BENEATH | NO_LINKS,
        )
    }

    /// Attaches the detached mount `tree` onto `name` here.
    pub fn mount_at(
        &self,
        tree: BorrowedFd<'_>,
        name: &(impl AsRef<OsStr> + ?Sized),
    ) -> SysResult<()> {
        fs::move_mount_to(tree, self.fd(), name)
    }

    /// The parent directory (`..`), whatever it is called now.
    pub fn parent(&self) -> SysResult<Dir> {
        let fd = fs::openat2(
            Some(self.fd()),
            Path::new(".."),
            libc::O_RDONLY | libc::O_DIRECTORY,
            NO_LINKS,
        )?;
        Ok(Dir {
            fd,
            path: self
                .path
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
        })
    }

    /// Opens the directory `rel` below this one, making each missing
    /// directory of it with `mode`: never above this one, never through a
    /// symlink (ELOOP), and a directory it made is opened only on the mount
    /// it was made on (`RESOLVE_NO_XDEV`: EXDEV if something was mounted on
    /// it meanwhile). Returns it and what it made, for [`Made::undo`]; when
    /// it fails it removes what it made itself.
    pub fn open_making(&self, rel: &Path, mode: u32) -> SysResult<(Dir, Made)> {
        let mut made = Made(Vec::new());
        let mut cur = self.open_rel(Path::new(""), true)?;
        for c in rel.components() {
            let step = (|| {
                let Component::Normal(name) = c else {
                    return Err(invalid("mkdirat", "the path has a '..' or '.' component"));
                };
                let name = name
                    .to_str()
                    .ok_or_else(|| invalid("mkdirat", "not UTF-8"))?
                    .to_string();
                let fresh = match cur.mkdir(&name, mode) {
                    Ok(()) => true,
                    Err(e) if e.errno() == libc::EEXIST => false,
                    Err(e) => return Err(e),
                };
                // What was there may be on another mount; what was made
                // here must still be this one.
                match cur.open_rel(Path::new(&name), !fresh) {
                    Ok(next) => Ok((next, fresh.then_some(name))),
                    Err(e) => {
                        if fresh {
                            let _ = cur.rmdir(&name);
                        }
                        Err(e)
                    }
                }
            })();
            match step {
                Ok((next, fresh)) => {
                    let parent = std::mem::replace(&mut cur, next);
                    if let Some(name) = fresh {
                        made.0.push((parent, name));
                    }
                }
                Err(e) => {
                    made.undo();
                    return Err(e);
                }
            }
        }
        Ok((cur, made))
    }

    /// Removes the empty directories of `rel` below this one, deepest
    /// first, and stops at the first that is not empty (or not there).
    pub fn prune(&self, rel: &Path, xdev: bool) {
        let mut rel = rel.to_path_buf();
        while let (Some(parent), Some(name)) = (
            rel.parent().map(Path::to_path_buf),
            rel.file_name().and_then(|n| n.to_str()).map(String::from),
        ) {
            let Ok(d) = self.open_rel(&parent, xdev) else {
                return;
            };
            if d.rmdir(&name).is_err() {
                return;
            }
            rel = parent;
        }
    }
}

/// The directories [`Dir::open_making`] made, each as its parent's handle
/// and its name, deepest last: what to remove when what they were made for
/// fails.
#[derive(Debug, Default)]
pub struct Made(Vec<(Dir, String)>);

impl Made {
    /// Whether nothing was made.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes the directories made, deepest first, through their parents'
    /// handles; one no longer empty (someone put something there) is kept,
    /// with those above it.
    pub fn undo(self) {
        for (d, name) in self.0.into_iter().rev() {
            if d.rmdir(&name).is_err() {
                return;
            }
        }
    }
}

/// `statx` of what `path` names, a final symlink not followed, worked from
/// a handle on its directory (resolved once, as the caller spelled it): an
/// existence or kind check that no later swap of the directory can fool,
/// since what follows works from handles too.
pub fn lstat(path: &Path) -> SysResult<Stat> {
    let name = path.file_name().and_then(|n| n.to_str());
    match (path.parent(), name) {
        (Some(parent), Some(name)) if name != ".." => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            Dir::open_following(parent)?.stat(name)
        }
        _ => Dir::open_following(path)?.stat(""),
    }
}

/// Splits an absolute path into its directory and its last name.
pub fn split(path: &Path) -> Option<(&Path, &str)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && *n != "..")?;
    path.is_absolute().then_some(())?;
    Some((path.parent()?, name))
}

/// A file the caller named, resolved once: an `O_PATH` fd on it. The caller's
/// own spelling is followed (symlinks included); every later check and use
/// is made on this fd, so no other spelling gets around them.
pub fn open_object(path: &Path) -> SysResult<OwnedFd> {
    fs::openat2(None, path, libc::O_PATH, 0)
}

/// The path `fd` refers to now, from `/proc/self/fd` (which only this
/// process can change).
pub fn path_of(fd: BorrowedFd<'_>) -> SysResult<PathBuf> {
    fs::fd_path(fd)
}

/// The directory that holds the file `fd` refers to, opened with no symlink
/// on the way, and that file's name in it; the entry there is checked to be
/// the same file (device and inode), or EAGAIN (it moved meanwhile).
pub fn parent_of(fd: BorrowedFd<'_>) -> SysResult<(Dir, String, Stat)> {
    let me = fs::stat_at(fd, "")?;
    let real = path_of(fd)?;
    let (dir, name) = split(&real).ok_or_else(|| invalid("readlink", "no parent"))?;
    let dir = Dir::open(dir)?;
    let there = dir.stat(name)?;
    if (there.dev, there.ino) != (me.dev, me.ino) {
        return Err(SysError {
            op: "statx",
            error: std::io::Error::from_raw_os_error(libc::EAGAIN),
        });
    }
    Ok((dir, name.to_string(), me))
}

/// Every real ancestor of directory `dir`, itself first and `/` last,
/// walked by `..` through handles (so across mounts, as the kernel sees it).
pub fn ancestors(dir: &Dir) -> SysResult<Vec<Stat>> {
    let mut out = vec![dir.stat("")?];
    let mut cur = dir.parent()?;
    for _ in 0..4096 {
        let st = cur.stat("")?;
        let last = out.last().expect("one");
        if (st.dev, st.ino) == (last.dev, last.ino) {
            return Ok(out);
        }
        out.push(st);
        cur = cur.parent()?;
    }
    Err(invalid("openat2", "too many ancestors"))
}

/// Unescapes mountinfo's octal escapes (`\040` is a space).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The identity of a mount bpfx made: its ids and the root it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountId {
    pub mnt_id: u64,
    pub mnt_id_unique: Option<u64>,
    pub dev: u64,
    pub ino: u64,
}

impl MountId {
    /// Whether `st` (a stat of a mount's root) is this mount.
    pub fn is(&self, st: &Stat) -> bool {
        let unique_ok = match (self.mnt_id_unique, st.mnt_id_unique) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        unique_ok && st.mnt_id == self.mnt_id && st.dev == self.dev && st.ino == self.ino
    }
}

/// The mount whose root `fd` is: its ids, device and inode.
pub fn mount_id(fd: BorrowedFd<'_>) -> SysResult<MountId> {
    let st = fs::stat_at(fd, "")?;
    Ok(MountId {
        mnt_id: st.mnt_id,
        mnt_id_unique: st.mnt_id_unique,
        dev: st.dev,
        ino: st.ino,
    })
}

/// Finds the mount `id` wherever it is now in this namespace (its parent
/// may have been renamed): looks its id up in `/proc/self/mountinfo`, opens
/// its mountpoint's directory and the mount on it, and checks the mount
/// there is `id`. Returns an `O_PATH` fd on the mount's root, the directory
/// it is mounted in (checked to hold it) and its name there; `None` when it
/// is not mounted any more.
pub fn find_mount(id: &MountId) -> Option<(OwnedFd, Dir, String)> {
    // A rename between reading mountinfo and opening is retried.
    for _ in 0..64 {
        let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let point = text.lines().find_map(|l| {
            let mut f = l.split(' ');
            let mid: u64 = f.next()?.parse().ok()?;
            if mid == id.mnt_id {
                f.nth(3).map(unescape)
            } else {
                None
            }
        })?;
        let (dir, name) = split(Path::new(&point))?;
        let Ok(d) = Dir::open(dir) else { continue };
        let Ok(fd) = d.open_path(name) else { continue };
        if fs::stat_at(fd.as_fd(), "").is_ok_and(|st| id.is(&st)) {
            return Some((fd, d, name.to_string()));
        }
    }
    None
}

/// Whether a mount with id `mnt_id` is in `/proc/self/mountinfo`.
pub fn is_mounted_id(mnt_id: u64) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|t| {
        t.lines()
            .any(|l| l.split(' ').next().and_then(|f| f.parse().ok()) == Some(mnt_id))
    })
}

/// Unmounts the mount whose root `fd` is (`MNT_DETACH`), through the fd.
pub fn umount(fd: BorrowedFd<'_>) -> SysResult<()> {
    fs::umount_fd(fd)
}

/// A detached bind mount of what `fd` refers to.
pub fn clone_tree(fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    fs::open_tree_clone_fd(fd)
}

/// `BPF_OBJ_GET` of the pin `fd` refers to (through its `/proc/self/fd`
/// link: the very inode, whatever its path is now).
pub fn obj_get_fd(fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    use std::os::fd::AsRawFd as _;
    sys::bpf_obj_get(Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bpfx-paths-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_symlink_on_the_way_is_refused() {
        let d = tmp("link");
        std::fs::create_dir(d.join("real")).unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("link")).unwrap();
        let e = Dir::open(&d.join("link")).unwrap_err();
        assert_eq!(e.errno(), libc::ELOOP);
        let root = Dir::open(&d).unwrap();
        assert_eq!(
            root.open_rel(Path::new("link"), false).unwrap_err().errno(),
            libc::ELOOP
        );
        assert_eq!(
            root.make_rel(Path::new("link/x"), 0o755, false)
                .unwrap_err()
                .errno(),
            libc::ELOOP
        );
        assert!(!d.join("real/x").exists(), "nothing made through the link");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn nothing_above_the_handle_is_reached() {
        let d = tmp("beneath");
        std::fs::create_dir(d.join("in")).unwrap();
        let inner = Dir::open(&d.join("in")).unwrap();
        assert_eq!(
            inner
                .open_rel(Path::new("../in"), false)
                .unwrap_err()
                .errno(),
            libc::EXDEV
        );
        assert!(inner.make_rel(Path::new("../x"), 0o755, false).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn make_rel_makes_lists_and_prunes() {
        let d = tmp("make");
        let root = Dir::open(&d).unwrap();
        let sub = root.make_rel(Path::new("a/b/c"), 0o755, false).unwrap();
        sub.symlink(Path::new("/nowhere"), "l").unwrap();
        assert!(sub.links_to("l", Path::new("/nowhere")));
        let link_ino = sub.stat("l").unwrap().ino;
        assert_eq!(
            sub.entries().unwrap(),
            vec![DirEntry {
                name: "l".into(),
                kind: DT_LNK,
                ino: link_ino,
            }]
        );
        root.prune(Path::new("a/b/c"), false);
        assert!(d.join("a/b/c").exists(), "not empty: kept");
        sub.unlink("l").unwrap();
        root.prune(Path::new("a/b/c"), false);
        assert!(!d.join("a").exists(), "emptied: pruned up to the root");
        assert!(d.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn ancestors_end_at_the_root() {
        let d = tmp("up");
        let a = ancestors(&Dir::open(&d).unwrap()).unwrap();
        assert!(a.len() >= 2);
        let root = Dir::open(Path::new("/")).unwrap().stat("").unwrap();
        assert_eq!(
            (a.last().unwrap().dev, a.last().unwrap().ino),
            (root.dev, root.ino)
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn parent_of_names_the_real_directory() {
        let d = tmp("parent");
        std::fs::create_dir(d.join("real")).unwrap();
        std::fs::write(d.join("real/f"), b"").unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("link")).unwrap();
        let fd = open_object(&d.join("link/f")).unwrap();
        let (dir, name, _) = parent_of(fd.as_fd()).unwrap();
        assert_eq!(dir.path(), d.join("real"));
        assert_eq!(name, "f");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
