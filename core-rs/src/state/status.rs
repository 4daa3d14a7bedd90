//! The attach status file, `<state dir>/attach-status.json`: the last
//! failures of each rule's cgroups (why an attachment failed cannot be read
//! back from the kernel). Written under the state lock, by temporary file
//! and rename. A note for people, never read as an order: a missing or
//! unreadable one is empty.

use crate::attach::mirror::{AttachReport, Tree};
use crate::attach::rule::Rule;
use crate::attach::status::{self, Failure, RuleStatus, Update};
use crate::error::{Error, Result};
use crate::state::manifest::{Lock, State};
use crate::sys;
use serde::{Deserialize, Serialize};
use std::os::fd::AsFd;
use std::path::Path;

const FILE: &str = "attach-status.json";
const TMP: &str = ".attach-status.json.tmp";

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    failures: Vec<Failure>,
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
        u.apply_to(&mut f.failures);
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
    status::forget_rules(&mut f.failures, gone);
    if f.failures.len() == n {
        return Ok(());
    }
    write_file(state, lock, &f)
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
        let entries = status::entries(&rule, &failures)?;
        out.push(RuleStatus { rule, entries });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::mirror::{Item, Skipped, Tree};

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
                    cgroup: c.into(),
                    cgroup_id: 1,
                    pin: String::new(),
                    expose: std::path::PathBuf::new(),
                    link_id: Some(9),
                })
                .collect(),
            skipped: skipped
                .iter()
                .map(|c| Skipped {
                    cgroup: c.into(),
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
