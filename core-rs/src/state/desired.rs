//! What each desired-state file made (`bpfx apply`): per file, the entries
//! it made, with the pins and paths each owns and the spec it was made
//! from. A claim like the rest of the manifest: `plan` checks each one
//! against the kernel and the filesystems before it acts on it. Recorded
//! before an entry is made and forgotten after it is removed, so that a
//! crash leaves nothing made that no file owns.

use crate::error::Result;
use crate::state::manifest::{self, Manifest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The entries one desired-state file made, known by the file's `name`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Owned {
    pub file: String,
    #[serde(default)]
    pub entries: Vec<OwnedEntry>,
}

/// One entry a file made: its kind (`object`, `map`, `view`, `rule`,
/// `link`, `exposure`) and name, what it owns on the host, the spec it was
/// made from, and a fingerprint of its input (an object file's sha256).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OwnedEntry {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub pins: Vec<PathBuf>,
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub spec: Value,
    #[serde(default)]
    pub fingerprint: String,
}

/// A change of what `file` owns: entries put (replacing any of the same
/// kind and name) and entries dropped, by kind and name.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub file: String,
    #[serde(default)]
    pub put: Vec<OwnedEntry>,
    #[serde(default)]
    pub drop: Vec<(String, String)>,
}

/// Applies `c` to `m`: one write of the manifest for the whole change. A
/// file left with no entries is forgotten.
pub fn change(m: &mut Manifest, c: &Change) {
    let at = match m.desired.iter().position(|o| o.file == c.file) {
        Some(i) => i,
        None => {
            m.desired.push(Owned {
                file: c.file.clone(),
                entries: Vec::new(),
            });
            m.desired.len() - 1
        }
    };
    let owned = &mut m.desired[at];
    let gone = |e: &OwnedEntry| {
        c.drop.iter().any(|(k, n)| *k == e.kind && *n == e.name)
            || c.put.iter().any(|p| p.kind == e.kind && p.name == e.name)
    };
    owned.entries.retain(|e| !gone(e));
    owned.entries.extend(c.put.iter().cloned());
    if owned.entries.is_empty() {
        m.desired.remove(at);
    }
}

/// Records `c` in the manifest of `state`, under its lock; returns what the
/// file owns now.
pub fn record(state: &Path, c: &Change) -> Result<Vec<OwnedEntry>> {
    manifest::update(state, |m| {
        change(m, c);
        Ok(m.desired
            .iter()
            .find(|o| o.file == c.file)
            .map(|o| o.entries.clone())
            .unwrap_or_default())
    })
}
