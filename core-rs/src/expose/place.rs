//! Where an exposure goes: its path split into a directory and a name, the
//! error of a place taken, how bpfx knows its own mount and placeholder
//! there again, and what a removal did. Shared by exposures on the host and
//! inside containers.

use crate::error::{Error, Kind, Result, q};
use crate::fs::mounts::BPF_FS_MAGIC;
use crate::fs::paths::{self, Dir, MountId};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// The directory and file name of an exposure's `path`, which must be an
/// absolute path to a file.
pub fn split(path: &Path) -> Result<(PathBuf, String)> {
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

/// The error of an exposure whose place is taken.
pub fn exists_error(path: &Path) -> Error {
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

/// Whether `fd` is the root of the mount `id` records, showing a bpffs
/// inode: the ids alone could be copied from another mount into a forged
/// manifest, but not the filesystem.
pub fn is_our_mount(fd: BorrowedFd<'_>, id: &MountId) -> bool {
    crate::sys::fs::stat_at(fd, "").is_ok_and(|st| id.is(&st))
        && crate::sys::fs::fs_magic_fd(fd).is_ok_and(|m| m == BPF_FS_MAGIC)
}

/// What the removal of an exposure did.
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
pub fn remove_placeholder(dir: &Dir, name: &str) {
    let (Ok(st), Ok(me)) = (dir.stat(name), dir.stat("")) else {
        return;
    };
    if st.is_file() && st.size == 0 && st.mode & 0o7777 == 0 && st.uid == 0 && st.dev == me.dev {
        let _ = dir.unlink(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_be_absolute_files() {
        assert!(split(Path::new("rel/x")).is_err());
        assert!(split(Path::new("/")).is_err());
        assert_eq!(
            split(Path::new("/a/b")).unwrap(),
            (PathBuf::from("/a"), "b".to_string())
        );
    }
}
