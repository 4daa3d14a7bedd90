//! The watcher's copy of the manifest: the whole reconcile (the manifest
//! read again, re-marked, every exposure and rule checked), a manifest the
//! CLI changed picked up, and the flush of what the watcher changed back
//! into it.

use super::Watcher;
use super::log::action;
use crate::attach::rule::Rule;
use crate::expose;
use crate::expose::exposure::Exposure;
use crate::fs::paths::Dir;
use crate::state::manifest::Lock;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

impl Watcher {
    /// Marks what the manifest needs watched: the directory of each exposed
    /// pin, and the cgroupfs of each rule.
    fn mark(&mut self) {
        let mut dirs: Vec<PathBuf> = self
            .manifest
            .exposures
            .iter()
            .filter_map(|x| x.pin.parent().map(Path::to_path_buf))
            .collect();
        dirs.sort();
        dirs.dedup();
        self.exits.sync(&self.manifest.exposures);
        for d in dirs {
            if !self.pins.is_marked(&d)
                && let Err(e) = self.pins.mark_dir(&d)
            {
                self.log_error("cannot watch a pin directory", &e);
            }
        }
        let roots: Vec<PathBuf> = self
            .manifest
            .rules
            .iter()
            .map(|r| r.cgroup_root.clone())
            .collect();
        for root in roots {
            // A removal of the root is reported in its parent; a root not
            // there yet is waited for from the nearest directory that is.
            let mut on = root.clone();
            if let Some(parent) = root.parent()
                && let Ok(id) = crate::fs::cgroups::resolve(&parent.to_string_lossy())
            {
                self.known.insert(id.id);
                on = parent.to_path_buf();
            } else if let Ok((near, id, _)) = crate::fs::cgroups::nearest(&root.to_string_lossy()) {
                self.known.insert(id);
                on = near;
            }
            // One filesystem mark per cgroupfs covers every rule on it.
            if self.cg_marked.iter().any(|m| same_fs(m, &on)) {
                continue;
            }
            match self.cgroups.mark_filesystem(&on) {
                Ok(()) => self.cg_marked.push(on),
                Err(e) => self.log_error("cannot watch cgroups", &e),
            }
        }
    }

    /// Re-reads the manifest (keeping the old one if the new is corrupt),
    /// re-marks, and reconciles everything. The lock is held.
    pub(super) fn reconcile_all(&mut self) {
        match self.state.read() {
            Ok(m) => {
                self.manifest = m;
                self.token = self.state.token();
            }
            Err(e) => self.log_error("keeping the last good manifest", &e),
        }
        self.progs.clear();
        self.known.clear();
        self.mark();
        let exposures = self.manifest.exposures.clone();
        let mut cache = expose::PinCache::default();
        for x in &exposures {
            self.check_exposure_with(x, &mut cache);
        }
        let rules = self.manifest.rules.clone();
        for r in &rules {
            self.reconcile_rule(r);
        }
    }

    /// Writes the exposures removed or made again since the last write, in
    /// one write (the lock is held).
    pub(super) fn flush(&mut self, lock: &Lock) {
        let status = std::mem::take(&mut self.status);
        if let Err(e) = crate::state::status::apply(&self.state, lock, &status) {
            self.log_error("cannot record the attach status", &e);
        }
        if self.gone.is_empty() && self.remade.is_empty() && self.added.is_empty() {
            return;
        }
        let gone = std::mem::take(&mut self.gone);
        let remade = std::mem::take(&mut self.remade);
        let added = std::mem::take(&mut self.added);
        self.manifest.exposures.retain(|e| !gone.contains(e));
        let written = self.state.update(lock, |m| {
            m.exposures.retain(|e| !gone.contains(e));
            m.exposures.extend(added.iter().cloned());
            for x in m.exposures.iter_mut() {
                if let Some(r) = remade.iter().find(|r| r.path == x.path && r.pin == x.pin) {
                    *x = r.clone();
                }
            }
            Ok(())
        });
        match written {
            Ok(()) => {
                self.token = self.state.token();
                if added.is_empty() {
                    self.exits.sync(&self.manifest.exposures);
                } else {
                    // Their pins' directories and their processes, watched.
                    self.mark();
                }
            }
            Err(e) => {
                self.log_error("cannot update the manifest", &e);
                // Nothing made that is not recorded.
                for x in &added {
                    let _ = expose::remove(x);
                }
                self.manifest.exposures.retain(|e| !added.contains(e));
            }
        }
    }

    /// Picks up a manifest the CLI changed: new exposures are checked and
    /// watched, new or changed rules reconciled. The lock is held.
    pub(super) fn reload(&mut self) {
        let token = self.state.token();
        if token == self.token {
            return;
        }
        let m = match self.state.read() {
            Ok(m) => m,
            Err(e) => return self.log_error("keeping the last good manifest", &e),
        };
        self.token = token;
        if m == self.manifest {
            return;
        }
        let old = std::mem::replace(&mut self.manifest, m);
        self.log(action("reloaded", "the manifest changed"));
        self.mark();
        let was: HashSet<&Exposure> = old.exposures.iter().collect();
        let exposures: Vec<Exposure> = self
            .manifest
            .exposures
            .iter()
            .filter(|x| !was.contains(x))
            .cloned()
            .collect();
        for x in &exposures {
            self.check_exposure(x);
        }
        let rules: Vec<Rule> = self
            .manifest
            .rules
            .iter()
            .filter(|r| !old.rules.contains(r))
            .cloned()
            .collect();
        for r in &rules {
            self.progs.remove(&r.prog);
            self.reconcile_rule(r);
        }
    }
}

fn same_fs(a: &Path, b: &Path) -> bool {
    let dev = |p: &Path| {
        Dir::open_following(p)
            .and_then(|d| d.stat(""))
            .map(|st| st.dev)
    };
    matches!((dev(a), dev(b)), (Ok(x), Ok(y)) if x == y)
}
