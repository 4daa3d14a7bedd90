//! `Tree`, the trees of one attach rule, brought to truth over a whole
//! subtree (`reconcile`), for a subtree that appeared, or for one that
//! vanished; and the mirror's dangling symlinks swept.

use super::existing::{Want, existing_views};
use super::names::encode_rel;
use super::report::{AttachReport, Skipped, item, progress};
use super::roots::{Roots, open_expose_root, open_pin_root};
use super::sync::ProgKey;
use super::sys_err;
use crate::attach::cgroup_links::{self, Selection};
use crate::attach::rule::{Rule, RuleKind};
use crate::error::{Kind, Result, q};
use crate::fs::cgroups;
use crate::fs::paths::{self, Dir};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// The trees of one attach: views or cgroup links pinned under
/// `pin_root`, exposed under `expose_root` (when there is one), each file
/// named `name`, for the cgroups `select` takes.
pub struct Tree {
    pub pin_root: PathBuf,
    pub expose_root: Option<PathBuf>,
    pub name: String,
    /// `None`: views; else the attach type of a cgroup program's links.
    pub attach: Option<u32>,
    pub select: Selection,
}

impl Tree {
    /// The tree a rule keeps. What the rule says is checked: an unknown
    /// attach type is refused.
    pub fn of(r: &Rule) -> Result<Tree> {
        let attach = match r.kind {
            RuleKind::View => None,
            RuleKind::Link => Some(cgroup_links::value(r.attach_type.as_deref().unwrap_or(""))?),
        };
        Ok(Tree {
            pin_root: r.pin_root.clone(),
            expose_root: (!r.expose_root.as_os_str().is_empty()).then(|| r.expose_root.clone()),
            name: r.name.clone(),
            attach,
            select: Selection {
                depth: r.depth,
                glob: r.glob.clone(),
            },
        })
    }

    pub(super) fn pin(&self, rel: &Path) -> PathBuf {
        self.pin_root.join(encode_rel(rel)).join(&self.name)
    }

    pub(super) fn expose(&self, rel: &Path) -> PathBuf {
        self.expose_root
            .as_ref()
            .map_or_else(PathBuf::new, |e| e.join(rel).join(&self.name))
    }

    fn want(&self) -> Want {
        Want::Kind(self.attach)
    }

    fn roots(&self, top: &Path) -> Result<Roots> {
        let expose = match &self.expose_root {
            Some(e) => Some(open_expose_root(e, true)?.expect("made")),
            None => None,
        };
        let cgroups = match self.attach {
            Some(_) => Some(
                Dir::open(top)
                    .map_err(|e| sys_err(format!("Cannot open cgroup {}", q(top)), top, e))?,
            ),
            None => None,
        };
        Ok(Roots::new(
            open_pin_root(&self.pin_root, true)?.expect("made"),
            expose,
            cgroups,
        ))
    }

    /// Removes the mirror symlinks named `name` that point into the pin
    /// root at nothing (left by a crash); returns their cgroups.
    fn sweep_dangling(&self, roots: &Roots, report: &mut AttachReport) {
        let Some(expose) = &roots.expose else {
            return;
        };
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let Ok(dir) = expose.open_rel(&rel, false) else {
                continue;
            };
            let Ok(entries) = dir.entries() else { continue };
            for entry in entries {
                if entry.kind == paths::DT_DIR {
                    stack.push(rel.join(&entry.name));
                    continue;
                }
                if entry.kind != paths::DT_LNK || *entry.name != *self.name {
                    continue;
                }
                let Ok(target) = dir.readlink(&entry.name) else {
                    continue;
                };
                let Ok(in_pins) = target.strip_prefix(&self.pin_root) else {
                    continue;
                };
                let dangling = match in_pins.parent().map(|p| roots.pin.open_rel(p, false)) {
                    Some(Ok(d)) => in_pins
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| d.stat(n).is_err()),
                    Some(Err(e)) => e.errno() == libc::ENOENT,
                    None => false,
                };
                if dangling && dir.unlink(&entry.name).is_ok() {
                    expose.prune(&rel, false);
                    report
                        .removed
                        .push(item(&rel, 0, &target, &self.expose(&rel)));
                }
            }
        }
    }

    /// Brings the whole subtree at `top` to truth: a view or link for every
    /// selected cgroup, none for cgroups that are gone or not selected. A
    /// cgroup that cannot get one is skipped and named in the report; the
    /// rest is done.
    pub fn reconcile(&self, prog: BorrowedFd<'_>, top: &Path) -> Result<AttachReport> {
        self.reconcile_walk(prog, top, cgroups::walk(top)?)
    }

    /// [`Tree::reconcile`] with the walk of `top` made.
    pub(super) fn reconcile_walk(
        &self,
        prog: BorrowedFd<'_>,
        top: &Path,
        walk: cgroups::Walk,
    ) -> Result<AttachReport> {
        let cgroups::Walk { cgroups, vanished } = walk;
        let roots = self.roots(top)?;
        let selected: Vec<&(PathBuf, u64)> = cgroups
            .iter()
            .filter(|(rel, _)| self.select.selects(rel))
            .collect();
        let mut report = AttachReport {
            cgroups: selected.len(),
            seen: cgroups.iter().map(|(_, id)| *id).collect(),
            ..Default::default()
        };
        for v in vanished {
            report.skipped.push(Skipped {
                cgroup: v,
                why: "the cgroup was removed during the walk".into(),
            });
        }
        self.sweep_dangling(&roots, &mut report);
        let mut existing =
            existing_views(&roots.pin, Path::new(""), Some(&self.name), self.want())?;
        let prog_key = ProgKey::of(prog);
        let total = selected.len() as u64;
        progress(0, total);
        for (done, (rel, id)) in selected.into_iter().enumerate() {
            let old = existing.remove(&rel.join(&self.name));
            self.sync_one(&roots, prog, &prog_key, rel, *id, old, &mut report);
            progress(done as u64 + 1, total);
        }
        // What is left belongs to cgroups that are gone or not selected.
        for (key, old) in existing {
            let rel = key.parent().unwrap_or(Path::new("")).to_path_buf();
            self.remove_one(&roots, &rel, &old, &mut report)?;
        }
        progress(total, total);
        Ok(report)
    }

    /// Makes the views or links of a cgroup subtree that just appeared at
    /// `rel` (below `top`), keeping any that exist.
    pub fn appeared(&self, prog: BorrowedFd<'_>, top: &Path, rel: &Path) -> Result<AttachReport> {
        let mut report = AttachReport::default();
        let cgroups::Walk { cgroups, .. } = match cgroups::walk(&top.join(rel)) {
            Ok(w) => w,
            Err(e) if e.kind == Kind::NotFound => return Ok(report), // gone again
            Err(e) => return Err(e),
        };
        let roots = self.roots(top)?;
        let mut existing =
            existing_views(&roots.pin, &encode_rel(rel), Some(&self.name), self.want())?;
        let prog_key = ProgKey::of(prog);
        for (sub, id) in cgroups {
            report.seen.push(id);
            let at = join_rel(rel, &sub);
            if !self.select.selects(&at) {
                continue;
            }
            report.cgroups += 1;
            let old = existing.remove(&at.join(&self.name));
            self.sync_one(&roots, prog, &prog_key, &at, id, old, &mut report);
        }
        Ok(report)
    }

    /// Removes the views or links of the cgroup at `rel` (below `top`) and
    /// of any below it (`rel` empty: the whole tree, root included), each
    /// once its cgroup is confirmed gone: a cgroup still there, opened by
    /// handle below `top`, whose id (its directory's inode) is the one the
    /// view or link holds, keeps it, whatever the event said.
    pub fn vanished(&self, top: &Path, rel: &Path) -> Result<AttachReport> {
        let mut report = AttachReport::default();
        let Some(pin) = open_pin_root(&self.pin_root, false)? else {
            return Ok(report);
        };
        let expose = match &self.expose_root {
            Some(e) => match open_expose_root(e, false)? {
                Some(d) => Some(d),
                None if self.attach.is_none() => return Ok(report),
                None => None,
            },
            None => None,
        };
        let roots = Roots::new(pin, expose, None);
        let cgroups = Dir::open(top).ok(); // gone too: nothing below is there
        for (key, old) in
            existing_views(&roots.pin, &encode_rel(rel), Some(&self.name), self.want())?
        {
            let sub = key.parent().unwrap_or(Path::new("")).to_path_buf();
            if is_there(cgroups.as_ref(), &sub, old.cgroup_id) {
                let link = old.held.attach.map(|_| old.held.link_id);
                let (pin, expose) = (self.pin(&sub), self.expose(&sub));
                report
                    .kept
                    .push(item(&sub, old.cgroup_id, &pin, &expose).link(link));
                continue;
            }
            self.remove_one(&roots, &sub, &old, &mut report)?;
        }
        Ok(report)
    }
}

/// Whether the cgroup `id` is still at `rel` below `top`: the directory
/// there, opened by handle (no symlink, never above `top`), has `id` for
/// its inode. A cgroup link the kernel detached from its removed cgroup
/// holds id 0, which no cgroup has.
fn is_there(top: Option<&Dir>, rel: &Path, id: u64) -> bool {
    id != 0
        && top
            .and_then(|t| t.open_rel(rel, false).ok())
            .is_some_and(|d| d.stat("").is_ok_and(|st| st.ino == id))
}

/// `rel/sub`, without a trailing slash when `sub` is empty.
fn join_rel(rel: &Path, sub: &Path) -> PathBuf {
    if sub.as_os_str().is_empty() {
        rel.to_path_buf()
    } else {
        rel.join(sub)
    }
}
