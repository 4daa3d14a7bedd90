//! An attach rule as bpfx records it: what to keep per selected cgroup of a
//! subtree. The state part keeps these records; the mirror applies them.

use crate::error::{Error, Result, q};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What an attach rule keeps per selected cgroup.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// A `self`-order cgroup iterator link (a view), exposed in a mirror.
    #[default]
    View,
    /// A cgroup program's link (`BPF_LINK_CREATE` on the cgroup).
    Link,
}

impl RuleKind {
    fn is_view(&self) -> bool {
        *self == RuleKind::View
    }
}

/// An attach rule: a view or a program's link per selected cgroup of a
/// subtree, kept true by the watcher. Fields past `name` came later and are
/// optional, so older manifests still parse.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The pinned program the views or links are made from.
    pub prog: PathBuf,
    /// The cgroup root's canonical path.
    pub cgroup_root: PathBuf,
    pub pin_root: PathBuf,
    /// Where the mirror of symlinks goes; empty for links without one.
    #[serde(default)]
    pub expose_root: PathBuf,
    pub name: String,
    #[serde(default, skip_serializing_if = "RuleKind::is_view")]
    pub kind: RuleKind,
    /// A link rule's attach type (`egress`, `sysctl`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_type: Option<String>,
    /// Only the cgroups this many levels below the root (0: the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// Only the cgroups whose name matches this glob.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    /// Where each view is also exposed inside the container its cgroup
    /// holds (processes in a mount namespace other than the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into_containers: Option<PathBuf>,
}

/// Refuses an `into_containers` path that is not an absolute file path, or
/// a rule without a state directory (the watcher follows containers by it).
pub fn check_rule_path(path: &Path, has_state: bool) -> Result<()> {
    check_into_path(path)?;
    if !has_state {
        return Err(Error::invalid(
            "attach",
            "Exposing views into containers needs a state directory: give --state",
        ));
    }
    Ok(())
}

/// Refuses a path inside a container that is not an absolute path to a
/// file.
pub fn check_into_path(path: &Path) -> Result<()> {
    if !path.is_absolute() || crate::fs::paths::split(path).is_none() {
        return Err(Error::invalid(
            "expose",
            format!(
                "Cannot expose at {}: give an absolute path to a file inside the container",
                q(path)
            ),
        )
        .with_path(path));
    }
    Ok(())
}
