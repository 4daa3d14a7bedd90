//! The watcher: keeps the manifest true. An exposure goes when its pin
//! goes; a view appears for each new cgroup under an attach rule and goes
//! with it; changes the CLI makes to the manifest are picked up as they
//! land; and a start, an overflow of the event queue, or a manifest change
//! reconciles everything against the kernel and the filesystems.
//!
//! Two fanotify groups: inode marks on each bpffs directory that holds an
//! exposed pin, and on the state directory; and a filesystem mark on each
//! cgroupfs an attach rule covers.

use crate::error::{Error, Kind, Result};
use crate::expose;
use crate::handles::Source;
use crate::info::ObjKind;
use crate::manifest::{self, Exposure, Manifest, Rule};
use crate::mirror::{AttachReport, Tree};
use crate::notify::{Event, Fan};
use crate::pins;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// One thing the watcher did, as a log line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Milliseconds since the epoch.
    pub time: u64,
    /// `started`, `rescan`, `reloaded`, `unexposed`, `re-exposed`,
    /// `view-made`, `view-removed`, `skipped`, `error`.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    pub why: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn action(action: &'static str, why: impl Into<String>) -> Action {
    Action {
        time: now_ms(),
        action,
        path: None,
        pin: None,
        cgroup: None,
        why: why.into(),
    }
}

pub struct Watcher {
    state: PathBuf,
    _lock: File,
    pins: Fan,
    cgroups: Fan,
    manifest: Manifest,
    /// The program fd of each rule, by its pin.
    progs: HashMap<PathBuf, OwnedFd>,
    cg_marked: Vec<PathBuf>,
    pending: VecDeque<Vec<u8>>,
    /// Set when an event asks for a full reconcile.
    rescan: bool,
    /// Exposures removed since the manifest was last written.
    gone: Vec<Exposure>,
}

impl Watcher {
    /// Takes the state directory's watcher lock and reconciles once.
    pub fn open(state: &Path) -> Result<Watcher> {
        let lock = manifest::watcher_lock(state)?;
        let manifest = manifest::read(state)?;
        let mut pins = Fan::new()?;
        pins.mark_dir(state)?;
        let mut w = Watcher {
            state: state.to_path_buf(),
            _lock: lock,
            pins,
            cgroups: Fan::new()?,
            manifest,
            progs: HashMap::new(),
            cg_marked: Vec::new(),
            pending: VecDeque::new(),
            rescan: false,
            gone: Vec::new(),
        };
        w.log(action(
            "started",
            format!("watching state directory {}", crate::error::q(state)),
        ));
        w.reconcile_all();
        w.flush();
        // Under systemd (Type=notify): ready once the first reconcile is done.
        match crate::sdnotify::notify("READY=1\nSTATUS=watching") {
            Ok(true) => w.log(action("ready", "told systemd the first reconcile is done")),
            Ok(false) => {}
            Err(e) => w.log(action(
                "ready-failed",
                format!("could not notify systemd: {e}"),
            )),
        }
        Ok(w)
    }

    fn log(&mut self, a: Action) {
        let mut line = serde_json::to_vec(&a).unwrap_or_default();
        line.push(b'\n');
        self.pending.push_back(line);
    }

    fn log_error(&mut self, what: &str, e: &Error) {
        let mut a = action("error", format!("{what}: {}", e.message));
        a.path = e.path.clone();
        self.log(a);
    }

    /// Marks what the manifest needs watched: the directory of each exposed
    /// pin, and the cgroupfs of each rule.
    fn mark(&mut self) {
        let dirs: Vec<PathBuf> = self
            .manifest
            .exposures
            .iter()
            .filter_map(|x| x.pin.parent().map(Path::to_path_buf))
            .collect();
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
            // One filesystem mark per cgroupfs covers every rule on it.
            if self.cg_marked.iter().any(|m| same_fs(m, &root)) {
                continue;
            }
            match self.cgroups.mark_filesystem(&root) {
                Ok(()) => self.cg_marked.push(root),
                Err(e) => self.log_error("cannot watch cgroups", &e),
            }
        }
    }

    fn prog_fd(&mut self, rule: &Rule) -> Result<BorrowedFd<'_>> {
        if !self.progs.contains_key(&rule.prog) {
            let (fd, _) = pins::open(&rule.prog, Some(ObjKind::Prog))?;
            self.progs.insert(rule.prog.clone(), fd);
        }
        Ok(self.progs[&rule.prog].as_fd())
    }

    /// Re-reads the manifest (keeping the old one if the new is corrupt),
    /// re-marks, and reconciles everything.
    fn reconcile_all(&mut self) {
        self.flush();
        match manifest::read(&self.state) {
            Ok(m) => self.manifest = m,
            Err(e) => self.log_error("keeping the last good manifest", &e),
        }
        self.progs.clear();
        self.mark();
        let exposures = self.manifest.exposures.clone();
        for x in &exposures {
            self.check_exposure(x);
        }
        let rules = self.manifest.rules.clone();
        for r in &rules {
            let tree = tree_of(r);
            let result = self
                .prog_fd(r)
                .and_then(|fd| tree.reconcile(fd, &r.cgroup_root));
            self.report(r, result);
        }
    }

    /// Forgets the exposures removed since the last write, in one write.
    fn flush(&mut self) {
        if self.gone.is_empty() {
            return;
        }
        let gone = std::mem::take(&mut self.gone);
        let written = manifest::update(&self.state, |m| {
            m.exposures.retain(|e| !gone.contains(e));
            Ok(())
        });
        if let Err(e) = written {
            self.log_error("cannot update the manifest", &e);
        }
    }

    fn report(&mut self, r: &Rule, result: Result<AttachReport>) {
        match result {
            Ok(rep) => {
                for i in rep.made {
                    self.log(Action {
                        pin: Some(i.pin),
                        path: Some(i.expose),
                        cgroup: Some(i.cgroup),
                        ..action("view-made", format!("rule \"{}\"", r.name))
                    });
                }
                for i in rep.removed {
                    self.log(Action {
                        pin: Some(i.pin),
                        path: Some(i.expose),
                        cgroup: Some(i.cgroup),
                        ..action(
                            "view-removed",
                            format!("rule \"{}\": the cgroup is gone", r.name),
                        )
                    });
                }
                for s in rep.skipped {
                    self.log(Action {
                        cgroup: Some(s.cgroup),
                        ..action("skipped", s.why)
                    });
                }
            }
            Err(e) => self.log_error(&format!("rule \"{}\"", r.name), &e),
        }
    }

    /// Removes an exposure whose pin is gone; remakes one whose file is gone.
    fn check_exposure(&mut self, x: &Exposure) {
        match expose::state_of(x) {
            "ok" => {}
            "pin-gone" => match expose::remove_physical(x) {
                // The manifest is written once per batch of events (flush).
                Ok(()) => {
                    self.manifest.exposures.retain(|e| e != x);
                    self.gone.push(x.clone());
                    self.log(Action {
                        path: Some(x.path.display().to_string()),
                        pin: Some(x.pin.display().to_string()),
                        ..action("unexposed", "the pin is gone")
                    });
                }
                Err(e) => self.log_error("cannot remove an exposure", &e),
            },
            other => {
                let why = format!("the exposure was {other}");
                let remade = expose::remove_physical(x).and_then(|()| expose::remake(x));
                match remade {
                    Ok(()) => self.log(Action {
                        path: Some(x.path.display().to_string()),
                        pin: Some(x.pin.display().to_string()),
                        ..action("re-exposed", why)
                    }),
                    Err(e) => self.log_error("cannot re-expose", &e),
                }
            }
        }
    }

    fn on_pin_event(&mut self, ev: &Event) {
        let Some(path) = &ev.path else { return };
        if path.parent() == Some(self.state.as_path()) {
            if path.file_name().is_some_and(|n| n == "manifest.json") {
                self.reload();
            }
            return;
        }
        if ev.event != "deleted" && ev.event != "moved-from" {
            return;
        }
        let hit: Vec<Exposure> = self
            .manifest
            .exposures
            .iter()
            .filter(|x| &x.pin == path)
            .cloned()
            .collect();
        for x in &hit {
            self.check_exposure(x);
        }
    }

    /// Picks up a manifest the CLI changed: new exposures are checked and
    /// watched, new or changed rules reconciled. Our own writes change
    /// nothing and cost one read.
    fn reload(&mut self) {
        self.flush();
        let m = match manifest::read(&self.state) {
            Ok(m) => m,
            Err(e) => return self.log_error("keeping the last good manifest", &e),
        };
        if m == self.manifest {
            return;
        }
        let old_rules = std::mem::replace(&mut self.manifest, m).rules;
        self.log(action("reloaded", "the manifest changed"));
        self.mark();
        let exposures = self.manifest.exposures.clone();
        for x in &exposures {
            self.check_exposure(x);
        }
        let rules: Vec<Rule> = self
            .manifest
            .rules
            .iter()
            .filter(|r| !old_rules.contains(r))
            .cloned()
            .collect();
        for r in &rules {
            self.progs.remove(&r.prog);
            let tree = tree_of(r);
            let result = self
                .prog_fd(r)
                .and_then(|fd| tree.reconcile(fd, &r.cgroup_root));
            self.report(r, result);
        }
    }

    fn on_cgroup_event(&mut self, ev: &Event) {
        let Some(path) = &ev.path else { return };
        if !ev.dir {
            return;
        }
        let rules: Vec<Rule> = self
            .manifest
            .rules
            .iter()
            .filter(|r| path.starts_with(&r.cgroup_root) && path != &r.cgroup_root)
            .cloned()
            .collect();
        for r in &rules {
            let rel = path
                .strip_prefix(&r.cgroup_root)
                .expect("checked")
                .to_path_buf();
            let tree = tree_of(r);
            let result = match ev.event {
                "created" | "moved-to" => self
                    .prog_fd(r)
                    .and_then(|fd| tree.appeared(fd, &r.cgroup_root, &rel)),
                _ => tree.vanished(&rel),
            };
            self.report(r, result);
        }
    }

    /// Reads and handles whatever both groups have queued.
    fn drain(&mut self) -> Result<()> {
        for ev in self.pins.read()? {
            if ev.event == "overflow" {
                self.rescan = true;
            } else {
                self.on_pin_event(&ev);
            }
        }
        for ev in self.cgroups.read()? {
            if ev.event == "overflow" {
                self.rescan = true;
            } else {
                self.on_cgroup_event(&ev);
            }
        }
        if self.rescan {
            self.rescan = false;
            self.log(action(
                "rescan",
                "events were lost or the manifest changed: reconciling everything",
            ));
            self.reconcile_all();
        }
        self.flush();
        Ok(())
    }
}

fn tree_of(r: &Rule) -> Tree {
    Tree {
        pin_root: r.pin_root.clone(),
        expose_root: r.expose_root.clone(),
        name: r.name.clone(),
    }
}

fn same_fs(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
}

impl Source for Watcher {
    fn next(
        &mut self,
        wake: BorrowedFd<'_>,
        timeout_ms: i32,
        room: usize,
    ) -> Result<Option<Vec<u8>>> {
        if self.pending.is_empty() {
            let Some(ready) =
                crate::events::wait(&[self.pins.fd(), self.cgroups.fd()], wake, timeout_ms)?
            else {
                return Ok(None);
            };
            if ready.contains(&true) {
                self.drain()?;
            }
        }
        crate::events::take_lines(&mut self.pending, room).map(Some)
    }
}

/// Opens a watcher on `state` (refused when another holds it).
pub fn open(state: &Path) -> Result<Watcher> {
    if state.as_os_str().is_empty() {
        return Err(Error::new(
            Kind::Invalid,
            "watch",
            "The state directory is empty",
        ));
    }
    Watcher::open(state)
}
