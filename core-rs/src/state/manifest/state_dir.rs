//! The state directory, open and checked (`State`): its lock, the
//! manifest's change token, and the manifest read (its journal replayed),
//! written whole or updated, every file relative to the directory's handle.

use super::journal::{JournalOp, journal_ops};
use super::trust::check_trusted;
use super::{CORRUPT, FILE, JOURNAL, Manifest, TMP, parse};
use crate::error::{Error, Kind, Result, q};
use crate::fs::paths::Dir;
use crate::sys;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

fn state_error(state: &Path, e: sys::SysError) -> Error {
    let err = Error::sys(format!("Cannot use state directory {}", q(state)), e).with_path(state);
    if err.errno == libc::ELOOP {
        err.with_kind(Kind::Invalid)
            .with_message(format!(
                "Cannot use state directory {}: it, or a directory on the way to it, is a symlink",
                q(state)
            ))
            .with_hint("bpfx follows no symlink to its state: give the real path")
    } else {
        err
    }
}

/// A state directory, open and checked: owned by this user (root), and
/// writable by no one else.
#[derive(Debug)]
pub struct State {
    pub(super) dir: Dir,
}

/// The state directory's lock, held while it lives.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] OwnedFd);

/// A change token of the manifest file: it changes with every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Token(Option<(u64, u64, i128)>, Option<(u64, u64, i128)>);

/// A lock this process holds for a whole apply, by state directory.
struct Hold {
    id: (u64, u64),
    fd: OwnedFd,
    count: u32,
}

static HOLDS: std::sync::Mutex<Vec<Hold>> = std::sync::Mutex::new(Vec::new());

fn holds() -> std::sync::MutexGuard<'static, Vec<Hold>> {
    HOLDS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A copy of the fd of this process's hold on the directory `id`, if any.
fn held_fd(id: (u64, u64)) -> Option<OwnedFd> {
    holds()
        .iter()
        .find(|h| h.id == id)
        .and_then(|h| h.fd.try_clone().ok())
}

impl State {
    /// Opens `state`; with `create`, makes it (mode 0700) when it is
    /// missing. `Ok(None)`: it is missing and `create` is false.
    pub fn open(state: &Path, create: bool) -> Result<Option<State>> {
        let state = &crate::fs::mounts::absolute(state);
        let dir = match Dir::open(state) {
            Ok(d) => d,
            Err(e) if e.errno() == libc::ENOENT && create => {
                let Some((parent, name)) = crate::fs::paths::split(state) else {
                    return Err(Error::invalid(
                        "mkdir",
                        format!("Cannot make state directory {}", q(state)),
                    ));
                };
                let parent = Dir::make_all(parent, 0o755).map_err(|e| state_error(state, e))?;
                match sys::fs::mkdir_at(parent.fd(), name, 0o700) {
                    Ok(()) => {}
                    Err(e) if e.errno() == libc::EEXIST => {}
                    Err(e) => return Err(state_error(state, e)),
                }
                parent
                    .open_rel(Path::new(name), true)
                    .map_err(|e| state_error(state, e))?
            }
            Err(e) if e.errno() == libc::ENOENT => return Ok(None),
            Err(e) => return Err(state_error(state, e)),
        };
        let dirs = crate::fs::paths::ancestors(&dir).map_err(|e| state_error(state, e))?;
        if check_trusted(state, &dirs)? {
            sys::fs::fchmod(dir.fd(), 0o700).map_err(|e| state_error(state, e))?;
            eprintln!(
                "bpfx: note: state directory {} was mode {:04o}: made 0700 (root's alone)",
                q(state),
                dirs[0].mode & 0o7777
            );
        }
        Ok(Some(State { dir }))
    }

    /// Opens `state`, which must exist.
    pub fn existing(state: &Path) -> Result<State> {
        State::open(state, false)?.ok_or_else(|| {
            Error::new(
                Kind::NotFound,
                "openat2",
                format!("No state directory {}", q(state)),
            )
            .with_path(state)
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Opens lock `name`; read-only for the state lock (flock needs no
    /// write, and a file opened to write reports its close to the watcher).
    pub(super) fn open_lock(&self, name: &str, mode: i32) -> Result<OwnedFd> {
        self.dir
            .open_file(name, libc::O_CREAT | mode, 0o600)
            .map_err(|e| {
                Error::sys(
                    format!("Cannot open lock {}", q(&self.path().join(name))),
                    e,
                )
            })
    }

    /// Takes the state directory's lock (waits for it): attach, detach,
    /// expose and the watcher's changes hold it, one at a time. While this
    /// process holds it for a whole apply ([`State::hold`]), every lock of
    /// this directory taken here shares that hold (the calls an apply makes
    /// would wait for themselves otherwise).
    pub fn lock(&self) -> Result<Lock> {
        if let Some(id) = self.identity()
            && let Some(fd) = held_fd(id)
        {
            return Ok(Lock(fd));
        }
        self.lock_own()
    }

    /// Takes the state directory's lock with a file of its own, never
    /// sharing a hold of this process: the watcher's, which waits for an
    /// apply in this process to end as it waits for one in another.
    pub fn lock_own(&self) -> Result<Lock> {
        let fd = self.open_lock("lock", libc::O_RDONLY)?;
        sys::fs::flock_exclusive(fd.as_fd(), true)
            .map_err(|e| Error::sys(format!("Cannot lock {}", q(&self.path().join("lock"))), e))?;
        Ok(Lock(fd))
    }

    /// Whether this process holds the lock for a whole apply
    /// ([`State::hold`]).
    pub fn held_here(&self) -> bool {
        self.identity().and_then(held_fd).is_some()
    }

    /// The directory's device and inode, which key this process's holds.
    fn identity(&self) -> Option<(u64, u64)> {
        self.dir.stat("").ok().map(|st| (st.dev, st.ino))
    }

    /// Takes the lock and keeps it past this call, for a whole apply: until
    /// as many [`State::release`] as holds. A crash releases it with the
    /// process. Returns how many holds there are now.
    pub fn hold(&self) -> Result<u32> {
        let id = self.identity().ok_or_else(|| {
            Error::internal(format!("Cannot stat state directory {}", q(self.path())))
        })?;
        {
            let mut held = holds();
            if let Some(h) = held.iter_mut().find(|h| h.id == id) {
                h.count += 1;
                return Ok(h.count);
            }
        }
        // Waited for outside the table's lock: another thread's release
        // must not wait for this one.
        let Lock(fd) = self.lock_own()?;
        let mut held = holds();
        if let Some(h) = held.iter_mut().find(|h| h.id == id) {
            h.count += 1;
            return Ok(h.count);
        }
        held.push(Hold { id, fd, count: 1 });
        Ok(1)
    }

    /// Gives back one [`State::hold`]; the last one unlocks. Returns how
    /// many are left (0 when there was none).
    pub fn release(&self) -> u32 {
        let Some(id) = self.identity() else { return 0 };
        let mut held = holds();
        let Some(at) = held.iter().position(|h| h.id == id) else {
            return 0;
        };
        held[at].count -= 1;
        let left = held[at].count;
        if left == 0 {
            held.remove(at); // its fd closes: the lock goes
        }
        left
    }

    /// The manifest's change token: it changes with every write of the
    /// manifest or its journal.
    pub fn token(&self) -> Token {
        let id = |f: &str| self.dir.stat(f).ok().map(|s| (s.ino, s.size, s.mtime_ns));
        Token(id(FILE), id(JOURNAL))
    }

    fn corrupt(&self, file: &str, text: &[u8], why: &str) -> Error {
        let p = self.path().join(file);
        let aside = self.path().join(CORRUPT);
        if let Ok(fd) = self.dir.open_file(
            CORRUPT,
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
            0o600,
        ) {
            let _ = sys::fs::write_all(fd.as_fd(), text);
        }
        Error::new(
            Kind::Invalid,
            "parse",
            format!("The manifest {} is corrupt: {why}", q(&p)),
        )
        .with_path(&p)
        .with_hint(format!(
            "bpfx changes nothing until it is fixed or removed; a copy is kept at {}",
            q(&aside)
        ))
    }

    /// Reads a file of the state directory; `None` when it is missing.
    fn slurp(&self, file: &str) -> Result<Option<Vec<u8>>> {
        match self
            .dir
            .open_file(file, libc::O_RDONLY | libc::O_NONBLOCK, 0)
            .and_then(|fd| sys::fs::read_to_end(fd.as_fd()))
        {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.errno() == libc::ENOENT => Ok(None),
            Err(e) => {
                let p = self.path().join(file);
                Err(Error::sys(format!("Cannot read manifest {}", q(&p)), e).with_path(&p))
            }
        }
    }

    /// Reads the manifest and replays its journal; returns it, the size of
    /// the base file, and the journal's whole lines' length and its length.
    fn read_all(&self) -> Result<(Manifest, usize, usize, usize)> {
        let (mut m, base) = match self.slurp(FILE)? {
            Some(text) => (
                parse(&text).map_err(|why| self.corrupt(FILE, &text, &why))?,
                text.len(),
            ),
            None => (Manifest::default(), 0),
        };
        let journal = self.slurp(JOURNAL)?.unwrap_or_default();
        // A last line with no newline is a write cut short: not applied,
        // and cut off before the next append.
        let whole = journal
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        for line in journal[..whole].split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let op: JournalOp = serde_json::from_slice(line)
                .map_err(|e| self.corrupt(JOURNAL, &journal, &e.to_string()))?;
            op.apply(&mut m);
        }
        Ok((m, base, whole, journal.len()))
    }

    /// Reads the manifest; a missing one is empty. A corrupt one is
    /// refused, and a copy is kept beside it.
    pub fn read(&self) -> Result<Manifest> {
        Ok(self.read_all()?.0)
    }

    /// Writes `m` whole (the lock held): temporary file made `O_EXCL`,
    /// fsync, rename over the manifest, then the journal (now in it) goes,
    /// and the directory is synced.
    pub fn write(&self, lock: &Lock, m: &Manifest) -> Result<()> {
        let mut bytes = serde_json::to_vec(m)
            .map_err(|e| Error::internal(format!("Cannot encode the manifest: {e}")))?;
        bytes.push(b'\n');
        self.replace(lock, FILE, TMP, &bytes, "manifest")?;
        let io = |what: &str, e: sys::SysError| {
            let p = self.path().join(JOURNAL);
            Error::sys(format!("Cannot {what} {}", q(&p)), e).with_path(&p)
        };
        // A crash before this unlink replays the journal on a manifest that
        // holds it already: each entry is keyed by its path, so that changes
        // nothing.
        match self.dir.unlink(JOURNAL) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::ENOENT => {}
            Err(e) => return Err(io("remove", e)),
        }
        let _ = sys::fs::fsync(self.dir.fd());
        Ok(())
    }

    /// Replaces the file `name` of the state directory with `bytes`, whole
    /// or not at all: written to the temporary `tmp` (O_EXCL; one a crash
    /// left is removed first, the directory being ours alone), synced, and
    /// renamed over it, all relative to the directory's handle (the lock
    /// held). `what` names the file in errors.
    pub fn replace(
        &self,
        _lock: &Lock,
        name: &str,
        tmp: &str,
        bytes: &[u8],
        what: &str,
    ) -> Result<()> {
        let tmp_path = self.path().join(tmp);
        let io = |verb: &str, e: sys::SysError| {
            Error::sys(format!("Cannot {verb} {}", q(&tmp_path)), e).with_path(&tmp_path)
        };
        match self.dir.unlink(tmp) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::ENOENT => {}
            Err(e) => return Err(io("remove", e)),
        }
        let f = self
            .dir
            .open_file(tmp, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o600)
            .map_err(|e| io("write", e))?;
        sys::fs::write_all(f.as_fd(), bytes).map_err(|e| io("write", e))?;
        sys::fs::fsync(f.as_fd()).map_err(|e| io("sync", e))?;
        drop(f);
        self.dir.rename(tmp, name).map_err(|e| {
            let p = self.path().join(name);
            Error::sys(format!("Cannot replace {what} {}", q(&p)), e).with_path(&p)
        })
    }

    /// Reads the manifest, lets `f` change it, and writes it back (the lock
    /// held). Nothing is written when `f` fails. Exposures added or removed
    /// go to the journal; anything else, or a journal grown past a quarter
    /// of the manifest, is a rewrite.
    pub fn update<T>(&self, lock: &Lock, f: impl FnOnce(&mut Manifest) -> Result<T>) -> Result<T> {
        let (mut m, base, whole, len) = self.read_all()?;
        let before = m.clone();
        let out = f(&mut m)?;
        if m == before {
            return Ok(out);
        }
        if base > 0
            && let Some(ops) = journal_ops(&before, &m)
            && whole + ops.len() * 256 < (base / 4).max(64 * 1024)
        {
            self.append(&ops, whole, len)?;
        } else {
            self.write(lock, &m)?;
        }
        Ok(out)
    }
}
