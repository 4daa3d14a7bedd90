//! The state directory as the watcher holds it: its marks, its replacement
//! by a new one (taken up with its watcher lock), and its lock per batch.

use super::Watcher;
use super::log::action;
use crate::error::Result;
use crate::fs::fanotify::{FAN_CLOSE_WRITE, FAN_DELETE_SELF, FAN_EVENT_ON_CHILD, FAN_MOVE_SELF};
use crate::fs::paths::Dir;
use crate::state::manifest::{self, Lock, Token};

impl Watcher {
    /// Marks the state directory (its manifest, and its own deletion or
    /// move) and its parent (a new directory made in its place).
    pub(super) fn mark_state(&mut self) -> Result<()> {
        self.pins.mark_dir_for(
            &self.state_path,
            crate::fs::fanotify::DIR_EVENTS
                | FAN_DELETE_SELF
                | FAN_MOVE_SELF
                | FAN_CLOSE_WRITE
                | FAN_EVENT_ON_CHILD,
        )?;
        if let Some(parent) = self.state_path.parent()
            && let Err(e) = self.pins.mark_dir(parent)
        {
            self.log_error("cannot watch the state directory's parent", &e);
        }
        Ok(())
    }

    /// After an event on the state directory or its name: if the directory
    /// at its path is not the one held, take the new one (its watcher lock,
    /// its manifest) and reconcile everything.
    pub(super) fn check_state_dir(&mut self) {
        let held = self.state.dir().stat("").ok().map(|s| (s.dev, s.ino));
        let now = Dir::open(&self.state_path)
            .and_then(|d| d.stat(""))
            .ok()
            .map(|s| (s.dev, s.ino));
        if now.is_some() && now == held {
            return;
        }
        self.pins.forget(&self.state_path);
        if now.is_none() {
            self.log(action(
                "state-gone",
                "the state directory was removed or moved: waiting for it to be made again",
            ));
            return;
        }
        match manifest::watcher_lock(&self.state_path) {
            Ok((st, lock)) => {
                self.state = st;
                self._lock = lock;
                self.token = Token::default();
                if let Err(e) = self.mark_state() {
                    self.log_error("cannot watch the new state directory", &e);
                }
                self.log(action(
                    "rearmed",
                    "the state directory was replaced: watching the new one",
                ));
                self.rescan = true;
                self.rearmed = true;
            }
            Err(e) => self.log_error("cannot take the new state directory", &e),
        }
    }

    /// The state directory's lock; when it cannot be had (the directory was
    /// removed), the watcher looks for a new one and goes on meanwhile.
    pub(super) fn take_lock(&mut self) -> Option<Lock> {
        match self.state.lock_own() {
            Ok(l) => Some(l),
            Err(_) => {
                self.check_state_dir();
                self.rearmed = false;
                self.state.lock_own().ok()
            }
        }
    }
}
