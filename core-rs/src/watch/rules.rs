//! The attach rules' upkeep: a rule's tree reconciled, a cgroup made or
//! removed under a rule, and the log of what was made, removed or skipped.

use super::Watcher;
use super::log::{Action, action};
use crate::attach::mirror::{AttachReport, Tree, waiting_why};
use crate::attach::rule::{Rule, RuleKind};
use crate::attach::status::Update;
use crate::error::Result;
use crate::fs::cgroups;
use crate::fs::fanotify::Event;
use crate::fs::names;
use crate::kernel::info::ObjKind;
use crate::kernel::pins;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

impl Watcher {
    fn prog_fd(&mut self, rule: &Rule) -> Result<BorrowedFd<'_>> {
        if !self.progs.contains_key(&rule.prog) {
            let (fd, _) = pins::open(&rule.prog, Some(ObjKind::Prog))?;
            self.progs.insert(rule.prog.clone(), fd);
        }
        Ok(self.progs[&rule.prog].as_fd())
    }

    /// Whether rule `r`'s cgroup root is missing; if so, the nearest
    /// ancestor that exists is known to the event filter, so that the next
    /// directory on the way to the root is seen when it is made.
    fn root_missing(&mut self, r: &Rule) -> bool {
        let spec = r.cgroup_root.to_string_lossy();
        match cgroups::resolve(&spec) {
            Err(e) if e.errno == libc::ENOENT => {}
            _ => return false,
        }
        match cgroups::nearest(&spec) {
            Ok((_, id, _)) => {
                self.known.insert(id);
            }
            Err(e) => self.log_error(&format!("rule \"{}\"", r.name), &e),
        }
        true
    }

    pub(super) fn reconcile_rule(&mut self, r: &Rule) {
        if self.root_missing(r) {
            // What a root that went had is gone with it.
            let result = Tree::of(r).and_then(|tree| {
                let rep = tree.vanished(&r.cgroup_root, Path::new(""))?;
                self.status.push(Update::of(&tree, &rep, None));
                Ok(rep)
            });
            self.report(r, result);
            self.log(Action {
                cgroup: Some(String::new()),
                ..action(
                    "skipped",
                    format!("rule \"{}\": {}", r.name, waiting_why(&r.cgroup_root)),
                )
            });
            return;
        }
        let result = Tree::of(r).and_then(|tree| {
            let rep = self
                .prog_fd(r)
                .and_then(|fd| tree.reconcile(fd, &r.cgroup_root))?;
            self.status.push(Update::of(&tree, &rep, None));
            Ok(rep)
        });
        self.report(r, result);
    }

    fn report(&mut self, r: &Rule, result: Result<AttachReport>) {
        match result {
            Ok(rep) => {
                self.known.extend(rep.seen.iter().copied());
                let (made, removed) = match r.kind {
                    RuleKind::View => ("view-made", "view-removed"),
                    RuleKind::Link => ("link-made", "link-removed"),
                };
                let path = |e: PathBuf| (!e.as_os_str().is_empty()).then(|| names::json_path(&e));
                if r.into_containers.is_some() {
                    for i in rep.made.iter().chain(&rep.kept).chain(&rep.moved) {
                        if let Err(e) = self.follow.watch(&r.cgroup_root.join(&i.cgroup)) {
                            self.log_error("cannot watch a cgroup for containers", &e);
                        }
                    }
                }
                for i in rep.made {
                    self.log(Action {
                        pin: Some(i.pin),
                        path: path(i.expose),
                        cgroup: Some(names::json_path(&i.cgroup)),
                        link_id: i.link_id,
                        ..action(made, format!("rule \"{}\"", r.name))
                    });
                }
                for i in rep.moved {
                    self.log(Action {
                        pin: Some(i.pin),
                        path: path(i.expose),
                        cgroup: Some(names::json_path(&i.cgroup)),
                        link_id: i.link_id,
                        ..action(
                            "moved",
                            format!("rule \"{}\": onto its program as loaded now", r.name),
                        )
                    });
                }
                for i in rep.removed {
                    self.known.remove(&i.cgroup_id);
                    self.log(Action {
                        pin: Some(i.pin),
                        path: path(i.expose),
                        cgroup: Some(names::json_path(&i.cgroup)),
                        link_id: i.link_id,
                        ..action(removed, format!("rule \"{}\": the cgroup is gone", r.name))
                    });
                }
                for s in rep.skipped {
                    self.log(Action {
                        cgroup: Some(names::json_path(&s.cgroup)),
                        ..action("skipped", format!("rule \"{}\": {}", r.name, s.why))
                    });
                }
            }
            Err(e) => self.log_error(&format!("rule \"{}\"", r.name), &e),
        }
    }

    pub(super) fn on_cgroup_event(&mut self, ev: &Event) {
        let Some(path) = &ev.path else { return };
        if !ev.dir {
            return;
        }
        let gone = matches!(ev.event, "deleted" | "moved-from");
        if !gone {
            // A directory on the way to a missing root (or the root
            // itself, again): the whole rule, once the root is there.
            let waiting: Vec<Rule> = self
                .manifest
                .rules
                .iter()
                .filter(|r| r.cgroup_root.starts_with(path))
                .cloned()
                .collect();
            for r in &waiting {
                if !self.root_missing(r) {
                    self.reconcile_rule(r);
                }
            }
        }
        let rules: Vec<Rule> = self
            .manifest
            .rules
            .iter()
            .filter(|r| path.starts_with(&r.cgroup_root) && (path != &r.cgroup_root || gone))
            .cloned()
            .collect();
        for r in &rules {
            let rel = path
                .strip_prefix(&r.cgroup_root)
                .expect("checked")
                .to_path_buf();
            let result = Tree::of(r).and_then(|tree| {
                let rep = if gone {
                    tree.vanished(&r.cgroup_root, &rel)
                } else {
                    self.prog_fd(r)
                        .and_then(|fd| tree.appeared(fd, &r.cgroup_root, &rel))
                }?;
                self.status.push(Update::of(&tree, &rep, Some(&rel)));
                Ok(rep)
            });
            self.report(r, result);
        }
    }
}
