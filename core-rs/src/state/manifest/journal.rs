//! The manifest's journal: an exposure added or removed is one line
//! appended (and fsynced) to `manifest.journal` instead of a rewrite of the
//! manifest; each line is keyed by the exposure's path, so a replay of one
//! already folded into the manifest changes nothing.

use super::{JOURNAL, Manifest, State};
use crate::error::{Error, Result, q};
use crate::expose::exposure::Exposure;
use crate::sys;
use serde::{Deserialize, Serialize};
use std::os::fd::AsFd;
use std::path::PathBuf;

/// One change of the journal, keyed by exposure path, so that applying it
/// twice changes nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(super) enum JournalOp {
    /// The exposure, in place of any at its path, or last.
    Add(Exposure),
    /// Forget the exposure at this path.
    Remove(PathBuf),
}

impl JournalOp {
    pub(super) fn apply(&self, m: &mut Manifest) {
        match self {
            JournalOp::Add(x) => match m.exposures.iter_mut().find(|e| e.same_place(x)) {
                Some(e) => *e = x.clone(),
                None => m.exposures.push(x.clone()),
            },
            // The journal keys host exposures by path: one inside a
            // container is only ever written whole (see `journal_ops`).
            JournalOp::Remove(p) => m.exposures.retain(|e| e.into.is_some() || &e.path != p),
        }
    }
}

/// The journal lines that turn `before` into `after`, when exposures are all
/// that changed and replaying them gives exactly `after`: some removed, and
/// some added at the end (what `expose`, `unexpose` and the watcher do).
/// Linear, with no hashing: the common case is one entry in 40,000.
pub(super) fn journal_ops(before: &Manifest, after: &Manifest) -> Option<Vec<JournalOp>> {
    if before.version != after.version
        || before.rules != after.rules
        || before.desired != after.desired
    {
        return None;
    }
    let (b, a) = (&before.exposures, &after.exposures);
    let prefix = b.iter().zip(a).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let removed = &b[prefix..b.len() - suffix];
    let added = &a[prefix..a.len() - suffix];
    // Exposures inside containers share paths: the journal, keyed by
    // path, does not carry them.
    if removed.iter().chain(added).any(|x| x.into.is_some()) {
        return None;
    }
    // Replayed, adds go last; an add whose path is taken would replace in
    // place. Either way a read would not give back `after`: rewrite.
    if removed.len() + added.len() > 64 || (!added.is_empty() && suffix > 0) {
        return None;
    }
    let taken = |x: &Exposure| {
        b[..prefix].iter().any(|k| k.path == x.path)
            || b[b.len() - suffix..].iter().any(|k| k.path == x.path)
    };
    if added.iter().any(taken) {
        return None;
    }
    Some(
        removed
            .iter()
            .map(|x| JournalOp::Remove(x.path.clone()))
            .chain(added.iter().cloned().map(JournalOp::Add))
            .collect(),
    )
}

impl State {
    /// Appends `ops` to the journal as one write, then fsync: an exposure
    /// added or removed costs a line, not a rewrite of every other.
    pub(super) fn append(&self, ops: &[JournalOp], whole: usize, len: usize) -> Result<()> {
        let p = self.path().join(JOURNAL);
        let io = |e: sys::SysError| {
            Error::sys(format!("Cannot write manifest journal {}", q(&p)), e).with_path(&p)
        };
        let mut bytes = Vec::new();
        for op in ops {
            serde_json::to_writer(&mut bytes, op)
                .map_err(|e| Error::internal(format!("Cannot encode the journal: {e}")))?;
            bytes.push(b'\n');
        }
        let f = self
            .dir
            .open_file(
                JOURNAL,
                libc::O_CREAT | libc::O_WRONLY | libc::O_APPEND,
                0o600,
            )
            .map_err(io)?;
        if whole != len {
            sys::fs::truncate_to(f.as_fd(), whole as u64).map_err(io)?;
        }
        sys::fs::write_all(f.as_fd(), &bytes).map_err(io)?;
        sys::fs::fsync(f.as_fd()).map_err(io)?;
        if len == 0 {
            let _ = sys::fs::fsync(self.dir.fd());
        }
        Ok(())
    }
}
