//! The watcher's lock on a state directory: one watcher per directory, and
//! the lock file names the one that holds it.

use super::State;
use crate::error::{Error, Kind, Result, q};
use crate::sys;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Takes the watcher's lock on `state`: one watcher per state directory.
/// The directory must exist (a watcher of a mistyped directory would watch
/// nothing); the lock file holds the watcher's pid, so that a second one can
/// name it.
pub fn watcher_lock(state: &Path) -> Result<(State, OwnedFd)> {
    let s = match State::open(state, false) {
        Ok(Some(s)) => s,
        Ok(None) => {
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
        Err(e) if e.errno == libc::ENOTDIR => {
            return Err(Error::new(
                Kind::Invalid,
                "watch",
                format!("Cannot watch state directory {}: not a directory", q(state)),
            )
            .with_path(state));
        }
        Err(e) => return Err(e),
    };
    let p = s.path().join("watch.lock");
    let f = s.open_lock("watch.lock", libc::O_RDWR)?;
    if let Err(e) = sys::fs::flock_exclusive(f.as_fd(), false) {
        if e.errno() != libc::EWOULDBLOCK {
            return Err(Error::sys(format!("Cannot lock {}", q(&p)), e));
        }
        let text = sys::fs::read_to_end(f.as_fd()).unwrap_or_default();
        let holder = match String::from_utf8_lossy(&text).trim().parse::<u32>() {
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
    let written =
        sys::fs::truncate(f.as_fd()).and_then(|()| sys::fs::write_all(f.as_fd(), pid.as_bytes()));
    if let Err(e) = written {
        return Err(Error::sys(format!("Cannot write {}", q(&p)), e).with_path(&p));
    }
    Ok((s, f))
}
