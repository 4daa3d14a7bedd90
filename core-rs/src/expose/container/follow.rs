//! Follow: the watcher's eye on the cgroups of rules that expose into
//! containers, and the retries while a container is being set up.

use super::{Maker, Outcome, check_one};
use crate::attach::rule::Rule;
use crate::error::Result;
use crate::expose::exposure::Exposure;
use crate::fs::fanotify::{FAN_EVENT_ON_CHILD, FAN_MODIFY, Fan};
use crate::fs::paths::Dir;
use std::collections::{HashMap, HashSet};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a cgroup a process just joined is checked again for, while its
/// container is being set up.
const SETUP_WAIT: Duration = Duration::from_secs(10);
/// The first retry's delay; each next one doubles, up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(2);
const RETRY_MAX: Duration = Duration::from_millis(10);

/// When to check a cgroup again.
#[derive(Debug, Clone, Copy)]
struct Retry {
    deadline: Instant,
    next: Instant,
    every: Duration,
    /// A process joined: wait for a runtime's process to make its
    /// container (see [`held`]).
    patient: bool,
}

/// The watcher's eye on the cgroups of rules that expose into containers:
/// an inode mark on each (a process joining writes `cgroup.procs`; the
/// kernel notes `populated` in `cgroup.events`), and the cgroups whose
/// container is still being set up, checked again after 2, 4, 8 and then every 10 ms.
pub struct Follow {
    fan: Fan,
    marked: HashSet<PathBuf>,
    pending: HashMap<PathBuf, Retry>,
}

impl Follow {
    pub fn new() -> Result<Follow> {
        Ok(Follow {
            fan: Fan::new()?,
            marked: HashSet::new(),
            pending: HashMap::new(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fan.fd()
    }

    /// The poll timeout: no later than the next retry.
    pub fn timeout(&self, timeout_ms: i32) -> i32 {
        let now = Instant::now();
        let Some(next) = self.pending.values().map(|r| r.next).min() else {
            return timeout_ms;
        };
        let ms = next
            .saturating_duration_since(now)
            .as_millis()
            .min(i32::MAX as u128) as i32;
        if timeout_ms < 0 {
            ms
        } else {
            timeout_ms.min(ms)
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn queue(&mut self, dir: &Path, patient: bool) {
        let now = Instant::now();
        let r = self.pending.entry(dir.to_path_buf()).or_insert(Retry {
            deadline: now + SETUP_WAIT,
            next: now,
            every: RETRY_FIRST,
            patient,
        });
        r.patient |= patient;
        r.next = now;
    }

    /// Watches the cgroup `dir` of a rule, and checks it at the next run.
    pub fn watch(&mut self, dir: &Path) -> Result<()> {
        if !self.marked.contains(dir) {
            self.fan
                .mark_dir_for(dir, FAN_MODIFY | FAN_EVENT_ON_CHILD)?;
            self.marked.insert(dir.to_path_buf());
        }
        self.queue(dir, false);
        Ok(())
    }

    /// Checks the cgroups whose processes changed and those due again, for
    /// each rule of `rules` that covers them; `make` records and makes an
    /// exposure.
    pub fn run(
        &mut self,
        rules: &[Rule],
        have: &[Exposure],
        make: &mut Maker<'_>,
    ) -> Result<Vec<Outcome>> {
        for ev in self.fan.read()? {
            if ev.event == "overflow" {
                let all: Vec<PathBuf> = self.marked.iter().cloned().collect();
                for d in all {
                    self.queue(&d, false);
                }
                continue;
            }
            let Some(path) = ev.path else { continue };
            let name = path.file_name().and_then(|n| n.to_str());
            if matches!(name, Some("cgroup.procs" | "cgroup.events"))
                && let Some(dir) = path.parent()
            {
                self.queue(dir, true);
            }
        }
        let now = Instant::now();
        let due: Vec<(PathBuf, Retry)> = self
            .pending
            .iter()
            .filter(|(_, r)| r.next <= now)
            .map(|(d, r)| (d.clone(), *r))
            .collect();
        let mut out = Vec::new();
        let mut have = have.to_vec();
        for (dir, mut retry) in due {
            self.pending.remove(&dir);
            if Dir::open(&dir).is_err() {
                self.marked.remove(&dir);
                self.fan.forget(&dir);
                continue;
            }
            let mut later = false;
            for r in rules.iter().filter(|r| r.into_containers.is_some()) {
                let Ok(rel) = dir.strip_prefix(&r.cgroup_root) else {
                    continue;
                };
                match check_one(r, rel, retry.patient, &have, make) {
                    Outcome::Later => later = true,
                    Outcome::Done => {}
                    Outcome::Made(made) => {
                        have.push(made.0.clone());
                        out.push(Outcome::Made(made));
                    }
                    failed => out.push(failed),
                }
            }
            if later && now < retry.deadline {
                retry.next = now + retry.every;
                retry.every = (retry.every * 2).min(RETRY_MAX);
                self.pending.insert(dir, retry);
            }
        }
        Ok(out)
    }
}
