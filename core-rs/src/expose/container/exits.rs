//! The watcher's handles on the processes that container exposures are
//! in: a pidfd each, polled for the process's exit.

use super::Process;
use crate::expose::exposure::{Exposure, Namespace};
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The watcher's handles on the processes of the container exposures: a
/// pidfd polls readable when its process exits.
#[derive(Default)]
pub struct Exits {
    fds: HashMap<Namespace, OwnedFd>,
}

impl Exits {
    /// Holds a pidfd for each namespace of `exposures`, and drops the rest.
    /// A process already gone gets none: its exposures are gone already.
    pub fn sync(&mut self, exposures: &[Exposure]) {
        let want: Vec<Namespace> = exposures.iter().filter_map(|x| x.into).collect();
        self.fds.retain(|n, _| want.contains(n));
        for n in want {
            if !self.fds.contains_key(&n)
                && let Some(p) = Process::reopen(&n)
            {
                self.fds.insert(n, p.pidfd);
            }
        }
    }

    /// The pidfds, in the order [`Exits::take_exited`] is given readiness.
    pub fn fds(&self) -> Vec<(Namespace, BorrowedFd<'_>)> {
        self.fds.iter().map(|(n, fd)| (*n, fd.as_fd())).collect()
    }

    /// Forgets the namespaces whose process exited; returns them.
    pub fn take_exited(&mut self, ready: &[Namespace]) -> Vec<Namespace> {
        for n in ready {
            self.fds.remove(n);
        }
        ready.to_vec()
    }
}
