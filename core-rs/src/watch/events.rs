//! The loop: waiting on both fanotify groups, the follow and the
//! containers' pidfds (`Source::next`), and draining a batch of events
//! under the state directory's lock.

use super::Watcher;
use super::log::action;
use crate::error::Result;
use crate::expose::exposure::{Exposure, Namespace};
use crate::fs::fanotify::Event;
use crate::kernel::handles::Source;
use crate::state::manifest;
use std::os::fd::BorrowedFd;

impl Watcher {
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
