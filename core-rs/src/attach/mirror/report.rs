//! What attach, detach and a reconcile report: the views and links made,
//! kept and removed, the cgroups skipped and why, the views placed inside
//! containers; and the running bulk operation's progress.

use crate::fs::names;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Progress of the running bulk operation: (done, total).
pub static PROGRESS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

pub(super) fn progress(done: u64, total: u64) {
    PROGRESS[1].store(total, Ordering::Relaxed);
    PROGRESS[0].store(done, Ordering::Relaxed);
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The cgroup's path relative to the cgroup root (`""` for the root),
    /// its bytes (in JSON, as [`names`] writes them).
    #[serde(serialize_with = "names::ser_path")]
    pub cgroup: PathBuf,
    pub cgroup_id: u64,
    pub pin: String,
    /// The mirror's symlink (`""` without an expose root).
    #[serde(serialize_with = "names::ser_path")]
    pub expose: PathBuf,
    /// A cgroup program's link: its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_id: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    #[serde(serialize_with = "names::ser_path")]
    pub cgroup: PathBuf,
    pub why: String,
}

#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AttachReport {
    pub cgroups: usize,
    pub made: Vec<Item>,
    pub kept: Vec<Item>,
    /// Links of another program moved onto this one in one step
    /// (`BPF_LINK_UPDATE`): the hook was never empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<Item>,
    pub removed: Vec<Item>,
    pub skipped: Vec<Skipped>,
    /// The id of every cgroup walked (for the watcher's event filter).
    #[serde(skip)]
    pub seen: Vec<u64>,
    /// Views exposed inside containers (`into_containers` rules).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub into: Vec<Placed>,
    /// Why nothing was made: the cgroup root does not exist yet, and the
    /// rule waits for it (`waitForRoot`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

/// A view a rule exposed inside a container, as reports show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Placed {
    /// The cgroup's path relative to the rule's root.
    pub cgroup: String,
    /// The container's process entered.
    pub pid: u32,
    pub pin: String,
    pub path: String,
}

pub(super) fn item(rel: &Path, id: u64, pin: &Path, expose: &Path) -> Item {
    Item {
        cgroup: rel.to_path_buf(),
        cgroup_id: id,
        pin: pin.display().to_string(),
        expose: expose.to_path_buf(),
        link_id: None,
    }
}

impl Item {
    pub(super) fn link(mut self, id: Option<u32>) -> Item {
        self.link_id = id;
        self
    }
}

#[derive(Debug, Serialize, Default)]
pub struct DetachReport {
    pub removed: Vec<Item>,
}
