//! The manifest: what the user asked for (exposures and attach rules), kept
//! in `<state dir>/manifest.json`. Everything else is read back from the
//! kernel and the filesystems. Written by temporary file, fsync and rename,
//! under a lock; a corrupt manifest is refused, never overwritten.

use crate::error::{Error, Kind, Result, q};
use crate::sys;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

pub const DEFAULT_STATE: &str = "/run/bpfx";
const FILE: &str = "manifest.json";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Symlink,
    Bind,
}

/// A pinned object put at a path outside bpffs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Exposure {
    pub pin: PathBuf,
    pub path: PathBuf,
    pub mode: Mode,
    /// The kernel id of the object when it was exposed: a pin replaced by
    /// another object is not the one exposed.
    pub object_id: u32,
    pub kind: String,
}

/// An attach rule: a view per cgroup of a subtree, kept true by the watcher.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The pinned iterator program the views are made from.
    pub prog: PathBuf,
    pub cgroup_root: PathBuf,
    pub pin_root: PathBuf,
    pub expose_root: PathBuf,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub version: u32,
    #[serde(default)]
    pub exposures: Vec<Exposure>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            version: 1,
            exposures: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// The manifest's path in `state`.
pub fn path(state: &Path) -> PathBuf {
    state.join(FILE)
}

fn ensure_dir(state: &Path) -> Result<()> {
    std::fs::create_dir_all(state).map_err(|e| {
        Error::io(
            format!("Cannot make state directory {}", q(state)),
            "mkdir",
            &e,
        )
        .with_path(state)
    })
}

/// Reads the manifest; a missing one is empty. A corrupt one is refused,
/// and a copy is kept beside it.
pub fn read(state: &Path) -> Result<Manifest> {
    let p = path(state);
    let text = match std::fs::read(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => {
            return Err(
                Error::io(format!("Cannot read manifest {}", q(&p)), "read", &e).with_path(&p),
            );
        }
    };
    serde_json::from_slice::<Manifest>(&text).map_err(|e| {
        let aside = state.join("manifest.json.corrupt");
        if std::fs::symlink_metadata(&aside).is_err() {
            let _ = std::fs::copy(&p, &aside);
        }
        Error::new(
            Kind::Invalid,
            "parse",
            format!("The manifest {} is corrupt: {e}", q(&p)),
        )
        .with_path(&p)
        .with_hint(format!(
            "bpfx changes nothing until it is fixed or removed; a copy is kept at {}",
            q(&aside)
        ))
    })
}

fn write(state: &Path, m: &Manifest) -> Result<()> {
    let p = path(state);
    let tmp = state.join(".manifest.json.tmp");
    let bytes = serde_json::to_vec_pretty(m)
        .map_err(|e| Error::internal(format!("Cannot encode the manifest: {e}")))?;
    let io = |what: &str, op: &str, e: std::io::Error| {
        Error::io(format!("Cannot {what} {}", q(&tmp)), op, &e).with_path(&tmp)
    };
    let mut f = File::create(&tmp).map_err(|e| io("write", "open", e))?;
    f.write_all(&bytes)
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|e| io("write", "write", e))?;
    f.sync_all().map_err(|e| io("sync", "fsync", e))?;
    std::fs::rename(&tmp, &p).map_err(|e| {
        Error::io(format!("Cannot replace manifest {}", q(&p)), "rename", &e).with_path(&p)
    })?;
    if let Ok(d) = File::open(state) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Holds `<state>/lock` while the manifest is read, changed and written.
struct Lock(#[allow(dead_code)] File);

/// Opens (making it if needed) the lock file `name` in `state`.
fn open_lock(state: &Path, name: &str) -> Result<(File, PathBuf)> {
    ensure_dir(state)?;
    let p = state.join(name);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&p)
        .map_err(|e| Error::io(format!("Cannot open lock {}", q(&p)), "open", &e).with_path(&p))?;
    Ok((f, p))
}

fn lock(state: &Path) -> Result<Lock> {
    let (f, p) = open_lock(state, "lock")?;
    sys::fs::flock_exclusive(f.as_fd(), true)
        .map_err(|e| Error::sys(format!("Cannot lock {}", q(&p)), e))?;
    Ok(Lock(f))
}

/// Reads the manifest, lets `f` change it, and writes it back, under the
/// lock. Nothing is written when `f` fails.
pub fn update<T>(state: &Path, f: impl FnOnce(&mut Manifest) -> Result<T>) -> Result<T> {
    let _lock = lock(state)?;
    let mut m = read(state)?;
    let before = m.clone();
    let out = f(&mut m)?;
    if m != before {
        write(state, &m)?;
    }
    Ok(out)
}

/// Takes the watcher's lock on `state`: one watcher per state directory.
/// The directory must exist (a watcher of a mistyped directory would watch
/// nothing); the lock file holds the watcher's pid, so that a second one can
/// name it.
pub fn watcher_lock(state: &Path) -> Result<File> {
    match std::fs::symlink_metadata(state) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::new(
                Kind::Invalid,
                "watch",
                format!("Cannot watch state directory {}: not a directory", q(state)),
            )
            .with_path(state));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::new(
                Kind::NotFound,
                "watch",
                format!("Cannot watch state directory {}: no such directory", q(state)),
            )
            .with_path(state)
            .with_hint(
                "check --state (or $BPFX_STATE); make it with `mkdir -m 0700`, or let `bpfx expose` or `bpfx attach` make it",
            ));
        }
        Err(e) => {
            return Err(Error::io(
                format!("Cannot watch state directory {}", q(state)),
                "stat",
                &e,
            )
            .with_path(state));
        }
    }
    let (mut f, p) = open_lock(state, "watch.lock")?;
    if let Err(e) = sys::fs::flock_exclusive(f.as_fd(), false) {
        if e.errno() != libc::EWOULDBLOCK {
            return Err(Error::sys(format!("Cannot lock {}", q(&p)), e));
        }
        let mut text = String::new();
        let _ = f.read_to_string(&mut text);
        let holder = match text.trim().parse::<u32>() {
            Ok(pid) => format!("Another watcher (pid {pid})"),
            Err(_) => "Another watcher".to_string(),
        };
        return Err(Error::new(
            Kind::Busy,
            "flock",
            format!("{holder} is running on state directory {}", q(state)),
        )
        .with_path(state)
        .with_hint("stop it first; one watcher per state directory"));
    }
    // Ours now: say who holds it.
    let pid = format!("{}\n", std::process::id());
    let written = f
        .set_len(0)
        .and_then(|()| f.seek(std::io::SeekFrom::Start(0)))
        .and_then(|_| f.write_all(pid.as_bytes()));
    if let Err(e) = written {
        return Err(Error::io(format!("Cannot write {}", q(&p)), "write", &e).with_path(&p));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "bpfx-manifest-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn update_round_trips_and_writes_nothing_on_failure() {
        let d = tmp();
        assert_eq!(read(&d).unwrap(), Manifest::default());
        update(&d, |m| {
            m.rules.push(Rule {
                prog: "/p".into(),
                cgroup_root: "/c".into(),
                pin_root: "/b".into(),
                expose_root: "/e".into(),
                name: "v".into(),
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(read(&d).unwrap().rules.len(), 1);
        let r: Result<()> = update(&d, |m| {
            m.rules.clear();
            Err(Error::invalid("x", "no"))
        });
        assert!(r.is_err());
        assert_eq!(
            read(&d).unwrap().rules.len(),
            1,
            "a failed update writes nothing"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_corrupt_manifest_is_refused_and_kept() {
        let d = tmp();
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(path(&d), b"{not json").unwrap();
        let e = update(&d, |_| Ok(())).unwrap_err();
        assert_eq!(e.kind, Kind::Invalid);
        assert!(e.message.contains("is corrupt"), "{}", e.message);
        assert_eq!(
            std::fs::read(path(&d)).unwrap(),
            b"{not json",
            "not overwritten"
        );
        assert_eq!(
            std::fs::read(d.join("manifest.json.corrupt")).unwrap(),
            b"{not json"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_second_watcher_lock_is_refused() {
        let d = tmp();
        // The watcher makes no state directory of its own.
        let e = watcher_lock(&d).unwrap_err();
        assert_eq!(e.kind, Kind::NotFound, "{}", e.message);
        assert!(!d.exists());
        std::fs::create_dir_all(&d).unwrap();
        let first = watcher_lock(&d).unwrap();
        let e = watcher_lock(&d).unwrap_err();
        assert_eq!(e.kind, Kind::Busy);
        // It names the holder.
        assert!(
            e.message.starts_with(&format!(
                "Another watcher (pid {}) is running",
                std::process::id()
            )),
            "{}",
            e.message
        );
        drop(first);
        assert!(watcher_lock(&d).is_ok());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
