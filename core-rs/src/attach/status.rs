//! A status per attachment: for each attach rule and each cgroup it selects,
//! whether its view or link is there (and its id), its cgroup is gone, or it
//! failed and why.
//!
//! What is there is read from the kernel and the pin tree each time. Only
//! why an attachment failed cannot be read back: attach and the watcher
//! keep the last failures, which the state part writes down
//! (`state::status`). They are a note for people, never read as an order.

use crate::attach::mirror::{self, AttachReport, Tree};
use crate::attach::rule::Rule;
use crate::error::{Kind, Result};
use crate::fs::{cgroups, names};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One cgroup a rule could not attach to, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub pin_root: PathBuf,
    pub name: String,
    /// The cgroup's path relative to the rule's root.
    pub cgroup: String,
    pub why: String,
}

/// The failures of one reconcile of a rule's tree: those of the cgroups at
/// `under` (or all, `None`) are replaced by [`Update::apply_to`].
#[derive(Debug, Clone)]
pub struct Update {
    pin_root: PathBuf,
    name: String,
    under: Option<PathBuf>,
    /// Cgroups now attached, or whose attachment went.
    done: Vec<String>,
    failed: Vec<(String, String)>,
}

impl Update {
    pub fn of(tree: &Tree, report: &AttachReport, under: Option<&Path>) -> Update {
        let done = report
            .made
            .iter()
            .chain(&report.kept)
            .chain(&report.moved)
            .chain(&report.removed)
            .map(|i| names::json_path(&i.cgroup))
            .collect();
        Update {
            pin_root: tree.pin_root.clone(),
            name: tree.name.clone(),
            under: under.map(Path::to_path_buf),
            done,
            failed: report
                .skipped
                .iter()
                .map(|s| (names::json_path(&s.cgroup), s.why.clone()))
                .collect(),
        }
    }

    /// Replaces what `failures` holds of the cgroups this update covers by
    /// what failed in it.
    pub fn apply_to(&self, failures: &mut Vec<Failure>) {
        failures.retain(|x| !self.covers(x));
        for (cgroup, why) in &self.failed {
            failures.push(Failure {
                pin_root: self.pin_root.clone(),
                name: self.name.clone(),
                cgroup: cgroup.clone(),
                why: why.clone(),
            });
        }
    }

    fn covers(&self, f: &Failure) -> bool {
        f.pin_root == self.pin_root
            && f.name == self.name
            && (self.done.contains(&f.cgroup)
                || self
                    .under
                    .as_ref()
                    .is_none_or(|u| Path::new(&f.cgroup).starts_with(names::json_path(u))))
    }
}

/// Forgets the failures of the rules `gone` (detached).
pub fn forget_rules(failures: &mut Vec<Failure>, gone: &[Rule]) {
    failures.retain(|x| {
        !gone
            .iter()
            .any(|r| r.pin_root == x.pin_root && r.name == x.name)
    });
}

/// One cgroup of a rule.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The cgroup's path relative to the rule's root (`""`: the root).
    pub cgroup: String,
    pub cgroup_id: u64,
    /// `attached`, `cgroup-gone`, `not-selected`, `failed` or `missing`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One rule and its cgroups.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleStatus {
    #[serde(flatten)]
    pub rule: Rule,
    pub entries: Vec<Entry>,
}

/// The entries of `rule`'s cgroups, read from the kernel and the pin tree,
/// with the recorded `failures`.
pub fn entries(rule: &Rule, failures: &[Failure]) -> Result<Vec<Entry>> {
    let tree = Tree::of(rule)?;
    let cgroups = match cgroups::walk(&rule.cgroup_root) {
        Ok(w) => w.cgroups,
        Err(e) if e.kind == Kind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut pinned = mirror::pinned(&rule.pin_root, &rule.name, tree.attach)?;
    let mut out = Vec::new();
    for (rel, id) in cgroups.iter().filter(|(rel, _)| tree.select.selects(rel)) {
        let cgroup = rel.display().to_string();
        let mut e = Entry {
            cgroup: cgroup.clone(),
            cgroup_id: *id,
            state: "missing",
            link_id: None,
            pin: None,
            why: None,
        };
        match pinned.remove(rel) {
            Some(p) if p.cgroup_id == *id => {
                e.state = "attached";
                e.link_id = Some(p.link_id);
                e.pin = Some(p.pin.display().to_string());
            }
            other => {
                if let Some(p) = other {
                    out.push(gone(
                        rel,
                        p,
                        "a link of a cgroup of that path that was removed",
                    ));
                }
                match failures.iter().find(|f| {
                    f.pin_root == rule.pin_root && f.name == rule.name && f.cgroup == cgroup
                }) {
                    Some(f) => {
                        e.state = "failed";
                        e.why = Some(f.why.clone());
                    }
                    None => {
                        e.why = Some(
                            "nothing is attached yet: `bpfx watch` attaches it, or run the attach again"
                                .into(),
                        );
                    }
                }
            }
        }
        out.push(e);
    }
    for (rel, p) in pinned {
        let exists = cgroups
            .iter()
            .any(|(r, id)| *r == rel && *id == p.cgroup_id);
        if exists {
            let mut e = gone(&rel, p, "");
            e.state = "not-selected";
            e.why = Some(
                "the rule does not select this cgroup: the next attach or `bpfx watch` removes it"
                    .into(),
            );
            out.push(e);
        } else {
            out.push(gone(&rel, p, "the cgroup was removed"));
        }
    }
    Ok(out)
}

fn gone(rel: &Path, p: mirror::Pinned, why: &str) -> Entry {
    Entry {
        cgroup: rel.display().to_string(),
        cgroup_id: p.cgroup_id,
        state: "cgroup-gone",
        link_id: Some(p.link_id),
        pin: Some(p.pin.display().to_string()),
        why: Some(format!(
            "{why}: still pinned until `bpfx watch` or the next attach removes it"
        )),
    }
}
