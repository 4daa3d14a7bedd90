//! The check of one cgroup for a rule that exposes into containers: the
//! container the cgroup holds (its init, once it is set up), and the rule's
//! view exposed inside it unless it is there already.

use super::Process;
use super::make::{place, prepare};
use super::process::{proc_dir, root_of};
use crate::attach::mirror::Placed;
use crate::attach::rule::Rule;
use crate::error::{Error, Kind, Result};
use crate::expose::exposure::{Exposure, MountRecord};
use crate::expose::pin::resolve_pin;
use crate::fs::paths::Dir;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// What a cgroup holds, for a rule that exposes into containers.
enum Held {
    /// No process in a mount namespace other than bpfx's.
    Nothing,
    /// A container that is still being set up (its root is still the
    /// host's): checked again shortly.
    NotReady,
    Ready(Process),
}

/// The container cgroup `dir` holds: the first of its own processes (not
/// its descendants') in another mount namespace and under another root.
/// `patient` (a process just joined): a process still in bpfx's namespace
/// may be a runtime's that is about to make the container (runc's `init`
/// joins the cgroup before it enters new namespaces), so it is looked at
/// again shortly.
fn held(dir: &Path, patient: bool) -> Held {
    let pids = Dir::open(dir)
        .and_then(|d| d.open_file("cgroup.procs", libc::O_RDONLY, 0))
        .and_then(|fd| crate::sys::fs::read_to_end(fd.as_fd()))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let Ok(proc) = proc_dir() else {
        return Held::Nothing;
    };
    let host_root = Dir::open(Path::new("/"))
        .and_then(|d| d.stat(""))
        .map(|s| (s.dev, s.ino))
        .ok();
    let mut out = Held::Nothing;
    let mut first = None;
    for pid in pids.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        if patient {
            out = Held::NotReady;
        }
        let Ok(p) = Process::open(pid, None, "expose into") else {
            continue;
        };
        if root_of(&proc, pid).ok() == host_root {
            out = Held::NotReady;
            continue;
        }
        // The init of the container's pid namespace lives as long as the
        // container; a runtime's process of the set-up may share its mount
        // namespace for a moment, and is taken only when there is no init.
        if pid_ns_init(&proc, pid) {
            return Held::Ready(p);
        }
        first.get_or_insert(p);
    }
    first.map_or(out, Held::Ready)
}

/// Whether process `pid` is the init (PID 1) of a pid namespace of its own
/// (the last `NSpid` of `/proc/PID/status`).
fn pid_ns_init(proc: &Dir, pid: u32) -> bool {
    let text = proc
        .open_file(&format!("{pid}/status"), libc::O_RDONLY, 0)
        .and_then(|fd| crate::sys::fs::read_to_end(fd.as_fd()))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    is_pid_ns_init(&text)
}

fn is_pid_ns_init(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .is_some_and(|ids| {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            ids.len() > 1 && ids.last() == Some(&"1")
        })
}

/// The pin of the rule's view of cgroup `rel`.
fn rule_pin(rule: &Rule, rel: &Path) -> PathBuf {
    rule.pin_root
        .join(crate::attach::mirror::encode_rel(rel))
        .join(&rule.name)
}

/// What one check of a cgroup for a rule came to.
pub enum Outcome {
    /// Nothing to do: no container, or it has its view already.
    Done,
    /// Check again shortly.
    Later,
    Made(Box<(Exposure, Placed)>),
    Failed(String, Error),
}

/// How an exposure is recorded and made: given the exposure and what
/// makes it, under the state directory's lock.
pub type Maker<'a> =
    dyn FnMut(&mut Exposure, &dyn Fn(&Exposure) -> Result<MountRecord>) -> Result<()> + 'a;

/// Exposes the rule's view of cgroup `rel` inside the container it holds,
/// unless `have` records it there.
pub fn check_one(
    rule: &Rule,
    rel: &Path,
    patient: bool,
    have: &[Exposure],
    make: &mut Maker<'_>,
) -> Outcome {
    let Some(at) = &rule.into_containers else {
        return Outcome::Done;
    };
    let cgroup = rel.display().to_string();
    let p = match held(&rule.cgroup_root.join(rel), patient) {
        Held::Nothing => return Outcome::Done,
        Held::NotReady => return Outcome::Later,
        Held::Ready(p) => p,
    };
    let pin_path = rule_pin(rule, rel);
    if have
        .iter()
        .any(|x| x.into.is_some_and(|n| n.ns() == p.ns.ns()) && x.pin == pin_path && &x.path == at)
    {
        return Outcome::Done;
    }
    let made = (|| {
        // The view may not be made yet (the cgroup is new): later.
        let pin = resolve_pin(&pin_path)?;
        pin.check_bind(&pin_path)?;
        let (mut x, tree) = prepare(&pin_path, &pin, at, &p)?;
        make(&mut x, &|x: &Exposure| {
            place(&p, tree.as_fd(), &x.path, true)
        })?;
        Ok::<_, Error>(x)
    })();
    match made {
        Ok(x) => {
            let placed = Placed {
                cgroup,
                pid: p.ns.pid,
                pin: x.pin.display().to_string(),
                path: x.path.display().to_string(),
            };
            Outcome::Made(Box::new((x, placed)))
        }
        Err(e)
            if e.kind == Kind::NotFound
                && e.path.as_deref() == Some(&*pin_path.to_string_lossy()) =>
        {
            Outcome::Later
        }
        // A runtime's process of the set-up, gone meanwhile: the container's
        // own comes next.
        Err(e) if e.errno == libc::ESRCH => Outcome::Later,
        Err(e) => Outcome::Failed(cgroup, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_namespace_init_is_told_by_its_last_nspid() {
        assert!(is_pid_ns_init("Name:\tsleep\nNSpid:\t4242\t1\n"));
        assert!(!is_pid_ns_init("NSpid:\t4242\t7\n"));
        assert!(
            !is_pid_ns_init("NSpid:\t1\n"),
            "the host's init is in no pid namespace of its own"
        );
        assert!(!is_pid_ns_init("Name:\tx\n"));
    }
}
