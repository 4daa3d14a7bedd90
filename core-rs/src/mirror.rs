//! A view per cgroup over a subtree, in a mirror of the cgroup tree.
//!
//! cgroupfs lets no one create arbitrary files in a cgroup's directory, so
//! bpfx builds two trees shaped like the cgroup subtree:
//! - under the pin root (bpffs), `<relative cgroup path>/<name>`: a
//!   `self`-order cgroup iterator link for that cgroup;
//! - under the expose root (any filesystem), the same relative path holding a
//!   symlink `<name>` to that pin, so that reading it runs the view.
//!
//! bpffs refuses `.` in names, so in the pin tree each directory name is
//! encoded: `%` becomes `%25` and `.` becomes `%2E` (reversible). The mirror
//! keeps the cgroups' own names.

use crate::cgroups;
use crate::error::{Error, Kind, Result, q};
use crate::info::{self, Detail, ObjKind};
use crate::manifest::{self, Rule};
use crate::mounts;
use crate::views;
use crate::{pins, sys};
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Progress of the running bulk operation: (done, total).
pub static PROGRESS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

fn progress(done: u64, total: u64) {
    PROGRESS[1].store(total, Ordering::Relaxed);
    PROGRESS[0].store(done, Ordering::Relaxed);
}

/// Encodes one cgroup directory name for bpffs.
pub fn encode(name: &str) -> String {
    name.replace('%', "%25").replace('.', "%2E")
}

/// Decodes a bpffs directory name made by [`encode`].
pub fn decode(name: &str) -> String {
    name.replace("%2E", ".").replace("%25", "%")
}

fn encode_rel(rel: &Path) -> PathBuf {
    rel.iter().map(|c| encode(&c.to_string_lossy())).collect()
}

fn decode_rel(rel: &Path) -> PathBuf {
    rel.iter().map(|c| decode(&c.to_string_lossy())).collect()
}

pub struct AttachOptions {
    pub prog: String,
    pub cgroup_root: String,
    pub pin_root: PathBuf,
    pub expose_root: PathBuf,
    pub name: String,
    pub pin_by_name_root: Option<PathBuf>,
    /// With a state directory, the attach is recorded as a rule that the
    /// watcher keeps true as cgroups come and go.
    pub state: Option<PathBuf>,
}

/// Where an attach rule keeps its program pinned, for the watcher.
pub fn prog_pin(pin_root: &Path, name: &str) -> PathBuf {
    // '%' never starts an encoded cgroup name, so this cannot collide.
    pin_root.join(format!("%prog-{name}"))
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The cgroup's path relative to the cgroup root (`""` for the root).
    pub cgroup: String,
    pub cgroup_id: u64,
    pub pin: String,
    pub expose: String,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub cgroup: String,
    pub why: String,
}

#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AttachReport {
    pub cgroups: usize,
    pub made: Vec<Item>,
    pub kept: Vec<Item>,
    pub removed: Vec<Item>,
    pub skipped: Vec<Skipped>,
}

/// A view found in the pin tree: its cgroup (relative, decoded) and id.
struct Existing {
    pin: PathBuf,
    cgroup_id: u64,
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name.contains('.') {
        return Err(Error::invalid(
            "attach",
            format!(
                "Invalid view name \"{name}\": use a plain name without '/' or '.' (bpffs refuses '.')"
            ),
        ));
    }
    Ok(())
}

/// Finds the cgroup iterator links named `name` (or any name) below `root`.
fn existing_views(root: &Path, name: Option<&str>) -> Result<BTreeMap<PathBuf, Existing>> {
    let mut out = BTreeMap::new();
    if std::fs::symlink_metadata(root).is_err() {
        return Ok(out);
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = std::fs::read_dir(&dir).map_err(|e| {
            Error::io(format!("Cannot read {}", q(&dir)), "readdir", &e).with_path(&dir)
        })?;
        for entry in rd.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let file = entry.file_name().to_string_lossy().into_owned();
            if ft.is_dir() {
                stack.push(rel.join(&file));
                continue;
            }
            if ft.is_symlink() || name.is_some_and(|n| n != file) || pins::is_preload(&entry.path())
            {
                continue;
            }
            let Ok((fd, _)) = pins::open(&entry.path(), Some(ObjKind::Link)) else {
                continue;
            };
            let Ok(i) = info::info_of_kind(fd.as_fd(), ObjKind::Link) else {
                continue;
            };
            let Detail::Link(l) = &i.detail else { continue };
            if l.target.get("iter").and_then(|v| v.as_str()) != Some("cgroup") {
                continue; // not a view bpfx makes: leave it alone
            }
            let Some(cgroup_id) = l.target.get("cgroupId").and_then(|v| v.as_u64()) else {
                continue;
            };
            let key = decode_rel(&rel).join(&file);
            out.insert(
                key,
                Existing {
                    pin: entry.path(),
                    cgroup_id,
                },
            );
        }
    }
    Ok(out)
}

/// Whether `link` is a symlink to `target`.
fn links_to(link: &Path, target: &Path) -> bool {
    std::fs::read_link(link).is_ok_and(|t| t == target)
}

/// Removes `dir` and its parents while they are empty, up to (not
/// including) `stop`.
fn prune(mut dir: &Path, stop: &Path) {
    while dir != stop && dir.starts_with(stop) {
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => break,
        }
    }
}

fn item(rel: &Path, id: u64, pin: &Path, expose: &Path) -> Item {
    Item {
        cgroup: rel.display().to_string(),
        cgroup_id: id,
        pin: pin.display().to_string(),
        expose: expose.display().to_string(),
    }
}

/// `rel/sub`, without a trailing slash when `sub` is empty.
fn join_rel(rel: &Path, sub: &Path) -> PathBuf {
    if sub.as_os_str().is_empty() {
        rel.to_path_buf()
    } else {
        rel.join(sub)
    }
}

/// Removes the mirror symlinks named `name` below `expose_root` that point
/// into `pin_root` at nothing (left by a crash); returns their paths.
fn sweep_dangling(expose_root: &Path, pin_root: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![expose_root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let p = entry.path();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_symlink()
                && entry.file_name() == name
                && std::fs::read_link(&p).is_ok_and(|t| {
                    t.starts_with(pin_root) && std::fs::symlink_metadata(&t).is_err()
                })
                && std::fs::remove_file(&p).is_ok()
            {
                if let Some(d) = p.parent() {
                    prune(d, expose_root);
                }
                out.push(p);
            }
        }
    }
    out
}

/// Removes one view and its mirror symlink, if the symlink is bpfx's.
/// The symlink goes first: a crash between the two leaves a pin, which the
/// next reconcile finds, rather than a symlink to nothing.
fn remove_view(pin: &Path, expose: &Path, pin_root: &Path, expose_root: &Path) -> Result<()> {
    if links_to(expose, pin) {
        std::fs::remove_file(expose).map_err(|e| {
            Error::io(format!("Cannot remove {}", q(expose)), "unlink", &e).with_path(expose)
        })?;
    }
    match std::fs::remove_file(pin) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::io(format!("Cannot unpin {}", q(pin)), "unlink", &e).with_path(pin));
        }
    }
    if let Some(d) = pin.parent() {
        prune(d, pin_root);
    }
    if let Some(d) = expose.parent() {
        prune(d, expose_root);
    }
    Ok(())
}

/// Makes the directories of `dir` below `root` (which exists).
fn make_dirs(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::io(format!("Cannot make directory {}", q(dir)), "mkdir", &e).with_path(dir)
    })
}

/// Makes, keeps and removes views so that every cgroup of the subtree has
/// exactly one, pinned and exposed. Running it again changes nothing.
pub fn attach(o: &AttachOptions) -> Result<AttachReport> {
    check_name(&o.name)?;
    let top = cgroups::resolve(&o.cgroup_root)?;
    let top_path = top
        .path
        .ok_or_else(|| Error::invalid("attach", "Give the cgroup root as a path, not an id"))?;
    let pin_root = mounts::absolute(&o.pin_root);
    let expose_root = mounts::absolute(&o.expose_root);
    if std::fs::symlink_metadata(&pin_root).is_ok() {
        mounts::require_bpffs_dir(&pin_root, "pin views")?;
    } else {
        let parent = pin_root.parent().unwrap_or(Path::new("/"));
        mounts::require_bpffs_dir(parent, "pin views")?;
        if pin_root
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains('.'))
        {
            return Err(Error::invalid(
                "mkdir",
                format!(
                    "Cannot make pin root {}: bpffs refuses '.' in names",
                    q(&pin_root)
                ),
            ));
        }
    }
    // The expose root may not exist yet: judge it by where it would be made.
    let mut on = expose_root.as_path();
    while std::fs::symlink_metadata(on).is_err() {
        on = on.parent().unwrap_or(Path::new("/"));
    }
    if mounts::is_bpffs(on) {
        return Err(Error::invalid(
            "attach",
            format!(
                "The expose root {} is on bpffs: give a directory on another filesystem",
                q(&expose_root)
            ),
        ));
    }
    if matches!(sys::fs_magic(on), Ok(m) if m == mounts::CGROUP2_SUPER_MAGIC) {
        return Err(Error::invalid(
            "attach",
            format!(
                "The expose root {} is on cgroupfs, which takes no files: give another directory",
                q(&expose_root)
            ),
        )
        .with_hint("use a directory such as /run/bpfx/views; bpfx mirrors the cgroup tree there"));
    }

    let (prog, target) = views::open_prog(&o.prog, o.pin_by_name_root.as_deref())?;
    if target != "cgroup" {
        return Err(Error::invalid(
            "attach",
            format!(
                "attach needs a cgroup iterator program, but {} iterates \"{target}\"",
                o.prog
            ),
        )
        .with_hint("use a program from a SEC(\"iter/cgroup\") section"));
    }
    let tree = Tree {
        pin_root,
        expose_root,
        name: o.name.clone(),
    };
    let report = tree.reconcile(prog.fd()?, &top_path)?;
    if let Some(state) = &o.state {
        let prog_path = match &prog {
            views::IterProg::Pinned { .. } => mounts::absolute(Path::new(&o.prog)),
            views::IterProg::Loaded { .. } => {
                let p = prog_pin(&tree.pin_root, &tree.name);
                make_dirs(&tree.pin_root)?;
                let _ = std::fs::remove_file(&p);
                sys::bpf_obj_pin(prog.fd()?, &p)
                    .map_err(|e| Error::sys(format!("Cannot pin the program at {}", q(&p)), e))?;
                p
            }
        };
        let rule = Rule {
            prog: prog_path,
            cgroup_root: top_path.clone(),
            pin_root: tree.pin_root.clone(),
            expose_root: tree.expose_root.clone(),
            name: tree.name.clone(),
        };
        manifest::update(state, |m| {
            m.rules
                .retain(|r| !(r.pin_root == rule.pin_root && r.name == rule.name));
            m.rules.push(rule);
            Ok(())
        })?;
    }
    Ok(report)
}

/// The two trees of one attach: views pinned under `pin_root`, exposed
/// under `expose_root`, each file named `name`.
pub struct Tree {
    pub pin_root: PathBuf,
    pub expose_root: PathBuf,
    pub name: String,
}

impl Tree {
    fn pin(&self, rel: &Path) -> PathBuf {
        self.pin_root.join(encode_rel(rel)).join(&self.name)
    }

    fn expose(&self, rel: &Path) -> PathBuf {
        self.expose_root.join(rel).join(&self.name)
    }

    /// Brings the whole subtree at `top` to truth: a view for every cgroup,
    /// none for cgroups that are gone.
    pub fn reconcile(&self, prog: BorrowedFd<'_>, top: &Path) -> Result<AttachReport> {
        let cgroups::Walk { cgroups, vanished } = cgroups::walk(top)?;
        let mut report = AttachReport {
            cgroups: cgroups.len(),
            ..Default::default()
        };
        for v in vanished {
            report.skipped.push(Skipped {
                cgroup: v.display().to_string(),
                why: "the cgroup was removed during the walk".into(),
            });
        }
        for p in sweep_dangling(&self.expose_root, &self.pin_root, &self.name) {
            let rel = p
                .parent()
                .and_then(|d| d.strip_prefix(&self.expose_root).ok())
                .unwrap_or(Path::new(""));
            report.removed.push(item(rel, 0, &self.pin(rel), &p));
        }
        let mut existing = existing_views(&self.pin_root, Some(&self.name))?;
        let total = cgroups.len() as u64;
        progress(0, total);
        for (done, (rel, id)) in cgroups.iter().enumerate() {
            let old = existing.remove(&rel.join(&self.name));
            self.sync_one(prog, rel, *id, old, &mut report)?;
            progress(done as u64 + 1, total);
        }
        // What is left belongs to cgroups that are gone.
        for (key, old) in existing {
            let rel = key.parent().unwrap_or(Path::new("")).to_path_buf();
            self.remove_one(&rel, &old, &mut report)?;
        }
        progress(total, total);
        Ok(report)
    }

    /// Makes the views of a cgroup subtree that just appeared at `rel`
    /// (below `top`), keeping any that exist.
    pub fn appeared(&self, prog: BorrowedFd<'_>, top: &Path, rel: &Path) -> Result<AttachReport> {
        let mut report = AttachReport::default();
        let cgroups::Walk { cgroups, .. } = match cgroups::walk(&top.join(rel)) {
            Ok(w) => w,
            Err(e) if e.kind == Kind::NotFound => return Ok(report), // gone again
            Err(e) => return Err(e),
        };
        let pin_dir = self.pin_root.join(encode_rel(rel));
        let mut existing = existing_views(&pin_dir, Some(&self.name))?;
        report.cgroups = cgroups.len();
        for (sub, id) in cgroups {
            let old = existing.remove(&sub.join(&self.name));
            self.sync_one(prog, &join_rel(rel, &sub), id, old, &mut report)?;
        }
        Ok(report)
    }

    /// Removes the views of the cgroup at `rel` and of any below it.
    pub fn vanished(&self, rel: &Path) -> Result<AttachReport> {
        let mut report = AttachReport::default();
        let pin_dir = self.pin_root.join(encode_rel(rel));
        for (key, old) in existing_views(&pin_dir, Some(&self.name))? {
            let sub = key.parent().unwrap_or(Path::new("")).to_path_buf();
            self.remove_one(&join_rel(rel, &sub), &old, &mut report)?;
        }
        Ok(report)
    }

    fn remove_one(&self, rel: &Path, old: &Existing, report: &mut AttachReport) -> Result<()> {
        let expose = self.expose(rel);
        remove_view(&old.pin, &expose, &self.pin_root, &self.expose_root)?;
        report
            .removed
            .push(item(rel, old.cgroup_id, &old.pin, &expose));
        Ok(())
    }

    /// Keeps, replaces or makes the view of one cgroup.
    fn sync_one(
        &self,
        prog: BorrowedFd<'_>,
        rel: &Path,
        id: u64,
        old: Option<Existing>,
        report: &mut AttachReport,
    ) -> Result<()> {
        let pin = self.pin(rel);
        let expose = self.expose(rel);
        let not_ours = |report: &mut AttachReport| {
            report.skipped.push(Skipped {
                cgroup: rel.display().to_string(),
                why: format!("{} exists and is not bpfx's", q(&expose)),
            })
        };
        if let Some(old) = old {
            if old.cgroup_id == id {
                if !links_to(&expose, &pin) {
                    if std::fs::symlink_metadata(&expose).is_ok() {
                        not_ours(report);
                        return Ok(());
                    }
                    make_dirs(expose.parent().expect("below the root"))?;
                    std::os::unix::fs::symlink(&pin, &expose).map_err(|e| {
                        Error::io(format!("Cannot expose {}", q(&expose)), "symlink", &e)
                    })?;
                }
                report.kept.push(item(rel, id, &pin, &expose));
                return Ok(());
            }
            // The cgroup was removed and made again: its old view is stale.
            self.remove_one(rel, &old, report)?;
        }
        if links_to(&expose, &pin) {
            // A symlink of ours left by a crash, to a pin that is gone.
            let _ = std::fs::remove_file(&expose);
        } else if std::fs::symlink_metadata(&expose).is_ok() {
            not_ours(report);
            return Ok(());
        }
        let params = sys::IterParams::Cgroup {
            order: 1,
            cgroup_fd: 0,
            cgroup_id: id,
        };
        let link = match views::make_link(prog, "cgroup", params) {
            Ok(l) => l,
            Err(e) if e.kind == Kind::NotFound => {
                report.skipped.push(Skipped {
                    cgroup: rel.display().to_string(),
                    why: "the cgroup was removed before its view was made".into(),
                });
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        make_dirs(pin.parent().expect("below the root"))?;
        views::pin_link(link.as_fd(), &pin)?;
        make_dirs(expose.parent().expect("below the root"))?;
        if let Err(e) = std::os::unix::fs::symlink(&pin, &expose) {
            let _ = std::fs::remove_file(&pin);
            return Err(
                Error::io(format!("Cannot expose {}", q(&expose)), "symlink", &e)
                    .with_path(&expose),
            );
        }
        report.made.push(item(rel, id, &pin, &expose));
        Ok(())
    }
}

#[derive(Debug, Serialize, Default)]
pub struct DetachReport {
    pub removed: Vec<Item>,
}

/// Removes every view below `pin_root` (named `name`, or any) and the
/// mirror symlinks that point at them, and forgets the matching attach rules
/// in `state`. Touches nothing else.
pub fn detach(
    pin_root: &Path,
    expose_root: &Path,
    name: Option<&str>,
    state: Option<&Path>,
) -> Result<DetachReport> {
    let pin_root = mounts::absolute(pin_root);
    let expose_root = mounts::absolute(expose_root);
    if let Some(state) = state {
        let gone = manifest::update(state, |m| {
            let (gone, kept): (Vec<Rule>, Vec<Rule>) = m
                .rules
                .drain(..)
                .partition(|r| r.pin_root == pin_root && name.is_none_or(|n| r.name == n));
            m.rules = kept;
            Ok(gone)
        })?;
        for r in gone {
            let p = prog_pin(&r.pin_root, &r.name);
            if r.prog == p {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    if std::fs::symlink_metadata(&pin_root).is_err() {
        return Ok(DetachReport::default());
    }
    mounts::require_bpffs_dir(&pin_root, "detach views")?;
    let existing = existing_views(&pin_root, name)?;
    let total = existing.len() as u64;
    progress(0, total);
    let mut report = DetachReport::default();
    for (done, (key, old)) in existing.into_iter().enumerate() {
        let rel = key.parent().unwrap_or(Path::new("")).to_path_buf();
        let expose = expose_root.join(&key);
        remove_view(&old.pin, &expose, &pin_root, &expose_root)?;
        report
            .removed
            .push(item(&rel, old.cgroup_id, &old.pin, &expose));
        progress(done as u64 + 1, total);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_encode_reversibly() {
        for n in ["plain", "a.b", "100%", "x.%2E.y", "%2E"] {
            let e = encode(n);
            assert!(!e.contains('.'), "{e}");
            assert_eq!(decode(&e), n);
        }
        assert_eq!(encode("app.slice"), "app%2Eslice");
        assert_eq!(
            decode_rel(&encode_rel(Path::new("a.slice/b.scope"))),
            PathBuf::from("a.slice/b.scope")
        );
    }

    #[test]
    fn view_names_are_checked() {
        assert!(check_name("stat").is_ok());
        assert!(check_name("a.b").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }
}
