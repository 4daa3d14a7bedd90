//! The manifest: what the user asked for (exposures, attach rules, and what
//! each desired-state file made), kept
//! in `<state dir>/manifest.json`. Everything else is read back from the
//! kernel and the filesystems. Written by temporary file, fsync and rename,
//! under a lock; an exposure added or removed is one line appended (and
//! fsynced) to `manifest.journal` instead, folded into the manifest when the
//! journal grows. A corrupt manifest is refused, never overwritten.
//!
//! The state directory is root's: bpfx makes it mode 0700 and refuses one
//! that another user owns or that group or others may write, since what it
//! holds decides what root unmounts and removes. Its files are opened
//! relative to a handle on it, never through a symlink, and the temporary
//! manifest with `O_EXCL`. What the manifest says is a claim: the code that
//! acts on an entry checks it against the kernel first.
//!
//! Here, the document itself; the files: `state_dir` (the directory open
//! and checked, its lock and change token, the manifest read, written and
//! updated), `journal` (the lines appended for exposures, and their
//! replay), `trust` (the check that the directory is root's alone),
//! `watcher_lock` (one watcher per directory), and `tests`.

mod journal;
mod state_dir;
mod trust;
mod watcher_lock;

pub use state_dir::{Lock, State, Token};
pub use watcher_lock::watcher_lock;

use crate::attach::rule::Rule;
use crate::error::Result;
use crate::expose::exposure::Exposure;
use crate::state::desired::Owned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const DEFAULT_STATE: &str = "/run/bpfx";
const FILE: &str = "manifest.json";
const TMP: &str = ".manifest.json.tmp";
const CORRUPT: &str = "manifest.json.corrupt";
/// Exposures added and removed since the manifest was last written whole.
pub const JOURNAL: &str = "manifest.journal";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub version: u32,
    #[serde(default)]
    pub exposures: Vec<Exposure>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What each desired-state file made (`bpfx apply`); absent in older
    /// manifests, and left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub desired: Vec<Owned>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            version: 1,
            exposures: Vec::new(),
            rules: Vec::new(),
            desired: Vec::new(),
        }
    }
}

/// The manifest's path in `state`.
pub fn path(state: &Path) -> PathBuf {
    state.join(FILE)
}

/// Parses manifest text; the error says what is wrong, for the caller to
/// word.
pub fn parse(text: &[u8]) -> std::result::Result<Manifest, String> {
    serde_json::from_slice::<Manifest>(text).map_err(|e| e.to_string())
}

/// Reads the manifest of `state`; a missing directory or file is empty.
pub fn read(state: &Path) -> Result<Manifest> {
    match State::open(state, false)? {
        Some(s) => s.read(),
        None => Ok(Manifest::default()),
    }
}

/// Opens (making it) `state`, takes its lock, and updates the manifest.
pub fn update<T>(state: &Path, f: impl FnOnce(&mut Manifest) -> Result<T>) -> Result<T> {
    let s = State::open(state, true)?.expect("made");
    let lock = s.lock()?;
    s.update(&lock, f)
}

#[cfg(test)]
mod tests;
