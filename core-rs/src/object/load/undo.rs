//! What a load makes in bpffs, made and removed by handle: the pin
//! directories, and the record of the load's files and directories that
//! removes them again unless the load completes.

use crate::error::{Error, Result, q};
use std::path::{Path, PathBuf};

/// What this load made, removed again unless the load completes.
#[derive(Default)]
pub(super) struct Undo {
    pub(super) files: Vec<PathBuf>,
    pub(super) dirs: Vec<PathBuf>,
    pub(super) done: bool,
}

impl Drop for Undo {
    /// Removes by handle: each entry's directory is opened with no symlink
    /// on the way, so a directory swapped for a symlink since the load made
    /// it cannot lead the rollback to remove anything elsewhere.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        for f in self.files.iter().rev() {
            if let Some((d, name)) = at(f) {
                let _ = d.unlink(&name);
            }
        }
        for dir in self.dirs.iter().rev() {
            if let Some((d, name)) = at(dir) {
                let _ = d.rmdir(&name);
            }
        }
    }
}

/// The directory of `p` as a handle (no symlink on the way) and its last
/// name: where the load's own files and directories are removed.
pub(super) fn at(p: &Path) -> Option<(crate::fs::paths::Dir, String)> {
    let (dir, name) = crate::fs::paths::split(p)?;
    Some((crate::fs::paths::Dir::open(dir).ok()?, name.to_string()))
}

/// Makes the pin directory `d` relative to a handle on its parent (resolved
/// once, as the caller spelled it). `Ok(false)` when it exists already.
pub(super) fn make_pin_dir(d: &Path) -> Result<bool> {
    let fail = |e: crate::sys::SysError| {
        Error::sys(format!("Cannot make pin directory {}", q(d)), e).with_path(d)
    };
    let (parent, name) = crate::fs::paths::split(d).ok_or_else(|| {
        Error::invalid("mkdir", format!("Cannot make pin directory {}", q(d))).with_path(d)
    })?;
    let dir = crate::fs::paths::Dir::open_following(parent).map_err(fail)?;
    match crate::sys::fs::mkdir_at(dir.fd(), name, 0o755) {
        Ok(()) => Ok(true),
        Err(e) if e.errno() == libc::EEXIST && dir.stat(name).is_ok_and(|s| s.is_dir()) => {
            Ok(false)
        }
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_removes_what_it_recorded_unless_done() {
        let dir = std::env::temp_dir().join(format!("bpfx-undo-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"x").unwrap();
        {
            let mut u = Undo::default();
            u.files.push(f.clone());
            u.dirs.push(dir.clone());
        }
        assert!(!dir.exists(), "a dropped Undo removes its files and dirs");
        std::fs::create_dir(&dir).unwrap();
        {
            let mut u = Undo::default();
            u.dirs.push(dir.clone());
            u.done = true;
        }
        assert!(dir.exists(), "a finished load keeps everything");
        // A directory swapped for a symlink: nothing is removed through it.
        let elsewhere = dir.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("swapped")).unwrap();
        {
            let mut u = Undo::default();
            u.files.push(dir.join("swapped/f"));
        }
        assert!(
            elsewhere.join("f").exists(),
            "not removed through a symlink"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
