//! The watcher: keeps the manifest true. An exposure goes when its pin
//! goes; a view appears for each new cgroup under an attach rule and goes
//! with it; changes the CLI makes to the manifest are picked up as they
//! land; and a start, an overflow of the event queue, or a manifest change
//! reconciles everything against the kernel and the filesystems.
//!
//! Two fanotify groups: inode marks on each bpffs directory that holds an
//! exposed pin, and on the state directory; and a filesystem mark on each
//! cgroupfs an attach rule covers.

mod containers;
mod exposures;
mod log;
mod reconcile;
mod rules;
pub mod sdnotify;
mod state_dir;

pub use log::Action;

use log::action;

use crate::attach::status::Update;
use crate::error::{Error, Kind, Result};
use crate::expose::exposure::{Exposure, Namespace};
use crate::fs::fanotify::{Event, Fan};
use crate::kernel::handles::Source;
use crate::state::manifest::{self, Manifest, State, Token};
use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct Watcher {
    /// The state directory as named, to notice when it is replaced.
    state_path: PathBuf,
    state: State,
    _lock: OwnedFd,
    pins: Fan,
    cgroups: Fan,
    manifest: Manifest,
    /// The manifest file's token when `manifest` was read.
    token: Token,
    /// The program fd of each rule, by its pin.
    progs: HashMap<PathBuf, OwnedFd>,
    cg_marked: Vec<PathBuf>,
    /// The ids of the cgroups under some rule, and of each rule root's
    /// parent: a cgroup event in any other directory is dropped unread.
    known: HashSet<u64>,
    pending: VecDeque<Vec<u8>>,
    /// Set when an event asks for a full reconcile.
    rescan: bool,
    /// Set when a new state directory was taken up during a batch.
    rearmed: bool,
    /// Exposures removed since the manifest was last written.
    gone: HashSet<Exposure>,
    /// Exposures made again (a new mount) since the manifest was last
    /// written.
    remade: Vec<Exposure>,
    /// What the reconciles since the last flush made and failed, for the
    /// attach status.
    status: Vec<Update>,
    /// A pidfd per container an exposure is in, polled for its exit.
    exits: crate::expose::container::Exits,
    /// Containers whose process exited, to be handled in the next batch.
    exited: Vec<Namespace>,
    /// The cgroups of rules that expose into containers.
    follow: crate::expose::container::Follow,
    /// Exposures made inside containers since the manifest was last written.
    added: Vec<Exposure>,
}

impl Watcher {
    /// Takes the state directory's watcher lock and reconciles once.
    pub fn open(state: &Path) -> Result<Watcher> {
        let (st, lock) = manifest::watcher_lock(state)?;
        let manifest = st.read()?;
        let token = st.token();
        let mut w = Watcher {
            state_path: st.path().to_path_buf(),
            state: st,
            _lock: lock,
            pins: Fan::new()?,
            cgroups: Fan::new()?,
            manifest,
            token,
            progs: HashMap::new(),
            cg_marked: Vec::new(),
            known: HashSet::new(),
            pending: VecDeque::new(),
            rescan: false,
            rearmed: false,
            gone: HashSet::new(),
            remade: Vec::new(),
            status: Vec::new(),
            exits: crate::expose::container::Exits::default(),
            exited: Vec::new(),
            follow: crate::expose::container::Follow::new()?,
            added: Vec::new(),
        };
        w.mark_state()?;
        w.log(action(
            "started",
            format!("watching state directory {}", crate::error::q(state)),
        ));
        {
            let lock = w.state.lock()?;
            w.reconcile_all();
            w.flush(&lock);
        }
        // Under systemd (Type=notify): ready once the first reconcile is done.
        match crate::watch::sdnotify::notify("READY=1\nSTATUS=watching") {
            Ok(true) => w.log(action("ready", "told systemd the first reconcile is done")),
            Ok(false) => {}
            Err(e) => w.log(action(
                "ready-failed",
                format!("could not notify systemd: {e}"),
            )),
        }
        Ok(w)
    }

    fn on_pin_event(&mut self, ev: &Event) {
        let Some(path) = &ev.path else { return };
        if path == &self.state_path
            || (path.parent() == self.state_path.parent()
                && path.file_name() == self.state_path.file_name())
        {
            self.check_state_dir();
            return;
        }
        if path.parent() == Some(self.state_path.as_path()) {
            if path
                .file_name()
                .is_some_and(|n| n == "manifest.json" || n == manifest::JOURNAL)
            {
                self.reload();
            }
            return;
        }
        // A pin replaced by rename (`mv new old`) is gone as much as a
        // removed one: the exposure would show another object, or hold the
        // old one alive.
        if !matches!(ev.event, "deleted" | "moved-from" | "moved-to") {
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

    /// Reads and handles whatever both groups have queued, under the state
    /// directory's lock: the manifest is read again first if someone
    /// changed it, so no view is made for a rule that is gone.
    fn drain(&mut self) -> Result<()> {
        let mut lock = self.take_lock();
        self.reload();
        for ev in self.pins.read()? {
            if ev.event == "overflow" {
                self.rescan = true;
            } else {
                self.on_pin_event(&ev);
            }
        }
        self.follow_containers();
        for ns in std::mem::take(&mut self.exited) {
            let hit: Vec<Exposure> = self
                .manifest
                .exposures
                .iter()
                .filter(|x| x.into == Some(ns))
                .cloned()
                .collect();
            for x in &hit {
                self.check_exposure(x);
            }
        }
        if self.rearmed {
            // A new state directory: its own lock from here on.
            self.rearmed = false;
            drop(lock);
            lock = self.take_lock();
        }
        let known = &self.known;
        let events = self.cgroups.read_filtered(|ev| {
            crate::fs::fanotify::kernfs_id(ev).is_none_or(|id| known.contains(&id))
        })?;
        for ev in events {
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
        // Without a lock (no state directory now), what is gone is kept for
        // the next batch.
        if let Some(l) = &lock {
            self.flush(l);
        }
        Ok(())
    }
}

impl Source for Watcher {
    fn next(
        &mut self,
        wake: BorrowedFd<'_>,
        timeout_ms: i32,
        room: usize,
    ) -> Result<Option<Vec<u8>>> {
        let deadline = (timeout_ms >= 0).then(|| {
            std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms as u64)
        });
        while self.pending.is_empty() {
            let left = match deadline {
                Some(d) => d
                    .saturating_duration_since(std::time::Instant::now())
                    .as_millis() as i32,
                None => -1,
            };
            let exits = self.exits.fds();
            let mut fds = vec![self.pins.fd(), self.cgroups.fd(), self.follow.fd()];
            fds.extend(exits.iter().map(|(_, fd)| *fd));
            let Some(ready) = crate::kernel::events::wait(&fds, wake, self.follow.timeout(left))?
            else {
                return Ok(None);
            };
            let exited: Vec<Namespace> = exits
                .iter()
                .zip(&ready[3..])
                .filter(|(_, r)| **r)
                .map(|((n, _), _)| *n)
                .collect();
            drop(exits);
            if !exited.is_empty() {
                let gone = self.exits.take_exited(&exited);
                self.exited.extend(gone);
            }
            let retry = self.follow.has_pending();
            if ready.contains(&true) || retry {
                self.drain()?;
            }
            // Events, or the caller's time is up: hand out what there is.
            if ready.contains(&true) || !retry || left == 0 {
                break;
            }
        }
        crate::kernel::events::take_lines(&mut self.pending, room).map(Some)
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
