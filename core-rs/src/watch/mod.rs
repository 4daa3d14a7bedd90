//! The watcher: keeps the manifest true. An exposure goes when its pin
//! goes; a view appears for each new cgroup under an attach rule and goes
//! with it; changes the CLI makes to the manifest are picked up as they
//! land; and a start, an overflow of the event queue, or a manifest change
//! reconciles everything against the kernel and the filesystems.
//!
//! Two fanotify groups: inode marks on each bpffs directory that holds an
//! exposed pin, and on the state directory; and a filesystem mark on each
//! cgroupfs an attach rule covers.
//!
//! Here, the watcher and its opening; the files: `events` (the loop:
//! waiting, then a batch of events drained under the lock), `reconcile`
//! (the manifest read again, marked, picked up when changed, flushed),
//! `exposures` and `rules` (the upkeep of each), `containers` (views
//! exposed into the containers that come into rule cgroups), `state_dir`
//! (the state directory held, and taken up again when replaced), `log`
//! (what the watcher did, as lines) and `sdnotify` (readiness for systemd).

mod containers;
mod events;
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
use crate::fs::fanotify::Fan;
use crate::state::manifest::{self, Manifest, State, Token};
use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::OwnedFd;
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
        if st.held_here() {
            // Its first reconcile would wait for this very process.
            return Err(Error::new(
                Kind::Busy,
                "watch",
                format!(
                    "Cannot start a watcher on state directory {}: this process holds its lock (an apply is running)",
                    crate::error::q(state)
                ),
            )
            .with_path(state)
            .with_hint("start the watcher once the apply is done"));
        }
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
            let lock = w.state.lock_own()?;
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
