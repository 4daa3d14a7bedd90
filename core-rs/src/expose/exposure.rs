//! An exposure as bpfx records it: a pinned object put at a path outside
//! bpffs, on the host or inside another mount namespace, and how bpfx knows
//! its mount and its namespace again. The state part keeps these records;
//! what one says is a claim, checked against the kernel before it is acted
//! on.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Symlink,
    Bind,
}

/// How bpfx knows a bind exposure's mount again: the mount's ids (statx)
/// and the bpffs inode it shows.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct MountRecord {
    /// The mount id of `/proc/self/mountinfo` (`STATX_MNT_ID`).
    pub mnt_id: u64,
    /// The unique mount id (`STATX_MNT_ID_UNIQUE`, kernel 6.8+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnt_id_unique: Option<u64>,
    /// Device and inode of the pin the mount shows.
    pub dev: u64,
    pub ino: u64,
}

impl From<crate::fs::paths::MountId> for MountRecord {
    fn from(m: crate::fs::paths::MountId) -> Self {
        MountRecord {
            mnt_id: m.mnt_id,
            mnt_id_unique: m.mnt_id_unique,
            dev: m.dev,
            ino: m.ino,
        }
    }
}

impl From<MountRecord> for crate::fs::paths::MountId {
    fn from(m: MountRecord) -> Self {
        crate::fs::paths::MountId {
            mnt_id: m.mnt_id,
            mnt_id_unique: m.mnt_id_unique,
            dev: m.dev,
            ino: m.ino,
        }
    }
}

/// A pinned object put at a path outside bpffs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Exposure {
    /// The pin's real path (symlinks resolved when it was exposed).
    pub pin: PathBuf,
    pub path: PathBuf,
    pub mode: Mode,
    /// The kernel id of the object when it was exposed: a pin replaced by
    /// another object is not the one exposed.
    pub object_id: u32,
    pub kind: String,
    /// A bind exposure's mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<MountRecord>,
    /// For an exposure inside another mount namespace (a container's),
    /// that namespace: `path` is resolved in it, and `mount` is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<Namespace>,
}

impl Exposure {
    /// Whether `self` and `other` are at the same place: the same path in
    /// the same mount namespace (the host's when `into` is none).
    pub fn same_place(&self, other: &Exposure) -> bool {
        self.path == other.path && self.into.map(|n| n.ns()) == other.into.map(|n| n.ns())
    }
}

/// A mount namespace bpfx exposed into, known by its identity, not by a
/// PID alone: the nsfs inode and device of the namespace, and the process
/// it was entered through with that process's start time (clock ticks
/// after boot), so that a recycled PID is never taken for it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    pub pid: u32,
    pub start_time: u64,
    pub mnt_ns: u64,
    pub ns_dev: u64,
}

impl Namespace {
    /// The namespace's own identity (its nsfs device and inode).
    pub fn ns(&self) -> (u64, u64) {
        (self.ns_dev, self.mnt_ns)
    }
}
