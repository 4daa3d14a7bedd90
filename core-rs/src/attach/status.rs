//! A status per attachment: for each attach rule and each cgroup it selects,
//! whether its view or link is there (and its id), its cgroup is gone, or it
//! failed and why.
//!
//! What is there is read from the kernel and the pin tree each time. Only
//! why an attachment failed cannot be read back, so attach and the watcher
//! keep the last failures in `<state dir>/attach-status.json` (written under
//! the state lock, by temporary file and rename). It is a note for people,
//! never read as an order: a missing or unreadable one is empty.

use crate::attach::mirror::{self, AttachReport, Tree};
use crate::attach::rule::Rule;
use crate::error::{Error, Kind, Result};
use crate::fs::cgroups;
use crate::state::manifest::{Lock, State};
use crate::sys;
use serde::{Deserialize, Serialize};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

const FILE: &str = "attach-status.json";
const TMP: &str = ".attach-status.json.tmp";

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

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    failures: Vec<Failure>,
}

/// The failures of one reconcile of a rule's tree, for [`apply`]: those of
/// the cgroups at `under` (or all, `None`) are replaced.
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
            .chain(&report.removed)
            .map(|i| i.cgroup.clone())
            .collect();
        Update {
            pin_root: tree.pin_root.clone(),
            name: tree.name.clone(),
            under: under.map(Path::to_path_buf),
            done,
            failed: report
                .skipped
                .iter()
                .map(|s| (s.cgroup.clone(), s.why.clone()))
                .collect(),
        }
    }

    fn covers(&self, f: &Failure) -> bool {
        f.pin_root == self.pin_root
            && f.name == self.name
            && (self.done.contains(&f.cgroup)
                || self
                    .under
                    .as_ref()
                    .is_none_or(|u| Path::new(&f.cgroup).starts_with(u)))
    }
}

fn read_file(state: &State) -> File {
    state
        .dir()
        .open_file(FILE, libc::O_RDONLY | libc::O_NONBLOCK, 0)
        .and_then(|fd| sys::fs::read_to_end(fd.as_fd()))
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok())
        .unwrap_or_default()
}

fn write_file(state: &State, lock: &Lock, f: &File) -> Result<()> {
    let mut bytes = serde_json::to_vec(f)
        .map_err(|e| Error::internal(format!("Cannot encode the attach status: {e}")))?;
    bytes.push(b'\n');
    state.replace(lock, FILE, TMP, &bytes, "attach status")
}

/// Applies `updates` to the recorded failures (the lock held); writes only
/// when something changed.
pub fn apply(state: &State, lock: &Lock, updates: &[Update]) -> Result<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let mut f = read_file(state);
    let before = f.failures.clone();
    for u in updates {
        f.failures.retain(|x| !u.covers(x));
        for (cgroup, why) in &u.failed {
            f.failures.push(Failure {
                pin_root: u.pin_root.clone(),
                name: u.name.clone(),
                cgroup: cgroup.clone(),
                why: why.clone(),
            });
        }
    }
    if f.failures == before {
        return Ok(());
    }
    write_file(state, lock, &f)
}

/// Records the failures of one reconcile of `tree` (the lock held).
pub fn record(
    state: &State,
    lock: &Lock,
    tree: &Tree,
    report: &AttachReport,
    under: Option<&Path>,
) -> Result<()> {
    apply(state, lock, &[Update::of(tree, report, under)])
}

/// Forgets the failures of the rules `gone` (detached).
pub fn forget(state: &State, lock: &Lock, gone: &[Rule]) -> Result<()> {
    let mut f = read_file(state);
    let n = f.failures.len();
    f.failures.retain(|x| {
        !gone
            .iter()
            .any(|r| r.pin_root == x.pin_root && r.name == x.name)
    });
    if f.failures.len() == n {
        return Ok(());
    }
    write_file(state, lock, &f)
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

/// The status of every rule of `state` (`rules`: their names, or all).
pub fn status(state: &Path) -> Result<Vec<RuleStatus>> {
    let Some(st) = State::open(state, false)? else {
        return Ok(Vec::new());
    };
    let m = st.read()?;
    let failures = read_file(&st).failures;
    let mut out = Vec::new();
    for rule in m.rules {
        let entries = entries(&rule, &failures)?;
        out.push(RuleStatus { rule, entries });
    }
    Ok(out)
}

fn entries(rule: &Rule, failures: &[Failure]) -> Result<Vec<Entry>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::mirror::{Item, Skipped};

    fn tree(name: &str) -> Tree {
        Tree {
            pin_root: "/b".into(),
            expose_root: None,
            name: name.into(),
            attach: Some(1),
            select: Default::default(),
        }
    }

    fn report(made: &[&str], skipped: &[&str]) -> AttachReport {
        AttachReport {
            made: made
                .iter()
                .map(|c| Item {
                    cgroup: c.to_string(),
                    cgroup_id: 1,
                    pin: String::new(),
                    expose: String::new(),
                    link_id: Some(9),
                })
                .collect(),
            skipped: skipped
                .iter()
                .map(|c| Skipped {
                    cgroup: c.to_string(),
                    why: format!("{c} failed"),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn failures_are_kept_per_rule_and_replaced_by_what_a_reconcile_saw() {
        let dir = std::env::temp_dir().join(format!("bpfx-status-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = State::open(&dir, true).unwrap().unwrap();
        let lock = state.lock().unwrap();
        let names = |state: &State| -> Vec<(String, String)> {
            read_file(state)
                .failures
                .into_iter()
                .map(|f| (f.name, f.cgroup))
                .collect()
        };
        record(&state, &lock, &tree("e"), &report(&[], &["a", "b/c"]), None).unwrap();
        record(&state, &lock, &tree("f"), &report(&[], &["a"]), None).unwrap();
        assert_eq!(names(&state).len(), 3);
        // A watcher event below "b": what failed there is replaced; "a" stays.
        record(
            &state,
            &lock,
            &tree("e"),
            &report(&[], &[]),
            Some(Path::new("b")),
        )
        .unwrap();
        assert_eq!(
            names(&state),
            vec![("e".into(), "a".into()), ("f".into(), "a".into())]
        );
        // "a" attached after all: its failure goes, the other rule's stays.
        record(
            &state,
            &lock,
            &tree("e"),
            &report(&["a"], &[]),
            Some(Path::new("x")),
        )
        .unwrap();
        assert_eq!(names(&state), vec![("f".into(), "a".into())]);
        let gone = Rule {
            pin_root: "/b".into(),
            name: "f".into(),
            ..Default::default()
        };
        forget(&state, &lock, &[gone]).unwrap();
        assert!(names(&state).is_empty());
        drop(lock);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
