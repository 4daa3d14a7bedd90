//! A container's process, held by a pidfd, and the identity of its mount
//! namespace read from the host's procfs; entering that namespace on a
//! thread of its own (`Process::enter`), and the probe of whether this host
//! lets bpfx do so.

use crate::error::{Error, Kind, Result};
use crate::expose::exposure::Namespace;
use crate::fs::paths::{self, Dir};
use crate::sys::{self, SysError, ns};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// A live process bpfx enters through, held by a pidfd, and the identity
/// of its mount namespace.
pub struct Process {
    pub(super) pidfd: OwnedFd,
    pub ns: Namespace,
}

pub(super) fn proc_dir() -> sys::SysResult<Dir> {
    Dir::open(Path::new("/proc"))
}

/// The device and inode of what the magic link `rel` of the procfs `proc`
/// leads to (`PID/root`, `PID/ns/mnt`), followed as the kernel does.
fn identity_at(proc: &Dir, rel: &str) -> sys::SysResult<(u64, u64)> {
    let fd = crate::sys::fs::openat2(Some(proc.fd()), Path::new(rel), libc::O_PATH, 0)?;
    let st = crate::sys::fs::stat_at(fd.as_fd(), "")?;
    Ok((st.dev, st.ino))
}

/// The identity (nsfs device, inode) of the mount namespace
/// `/proc/<who>/ns/mnt` names, `who` relative to the procfs `proc`.
fn ns_at(proc: &Dir, who: &str) -> sys::SysResult<(u64, u64)> {
    identity_at(proc, &format!("{who}/ns/mnt"))
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`: clock
/// ticks after boot).
fn start_time(proc: &Dir, pid: u32) -> sys::SysResult<u64> {
    let fd = proc.open_file(&format!("{pid}/stat"), libc::O_RDONLY, 0)?;
    let text = crate::sys::fs::read_to_end(fd.as_fd())?;
    parse_start_time(&text).ok_or_else(|| SysError {
        op: "read",
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, "unreadable stat line"),
    })
}

/// Field 22 of a `/proc/PID/stat` line; the command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_start_time(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The device and inode of process `pid`'s root directory.
pub(super) fn root_of(proc: &Dir, pid: u32) -> sys::SysResult<(u64, u64)> {
    identity_at(proc, &format!("{pid}/root"))
}

/// The host's mount namespace: bpfx's own.
fn own_ns(proc: &Dir) -> sys::SysResult<(u64, u64)> {
    ns_at(proc, "self")
}

fn verb_error(what: &str, pid: u32, why: String) -> Error {
    Error::new(
        Kind::NotFound,
        "pidfd_open",
        format!("Cannot {what} process {pid}: {why}"),
    )
}

fn exited_midway(what: &str, pid: u32) -> Error {
    verb_error(what, pid, "the process exited midway".into())
        .with_op("setns")
        .with_errno(libc::ESRCH)
        .with_hint("start the container again, and give the PID of its running process")
}

impl Process {
    /// Opens process `pid` to enter its mount namespace (`what` words the
    /// errors): it must exist, be in a mount namespace other than bpfx's,
    /// and, when `start` is given, have started at that time (else the PID
    /// names another process now).
    pub fn open(pid: u32, start: Option<u64>, what: &str) -> Result<Process> {
        let pidfd = ns::pidfd_open(pid).map_err(|e| {
            let err = Error::sys(format!("Cannot {what} process {pid}"), e);
            if err.errno == libc::ESRCH {
                err.with_kind(Kind::NotFound)
                    .with_message(format!("Cannot {what} process {pid}: no such process"))
                    .with_hint(
                        "give the PID of a running process (a container's init: `runc state ID`)",
                    )
            } else {
                err
            }
        })?;
        let proc = proc_dir().map_err(|e| Error::sys("Cannot open /proc", e))?;
        let read = start_time(&proc, pid).and_then(|t| Ok((t, ns_at(&proc, &pid.to_string())?)));
        // The process is still the pidfd's when it is alive after the reads:
        // the start time and namespace read are its own.
        if ns::pidfd_alive(pidfd.as_fd()).is_err() {
            return Err(exited_midway(what, pid));
        }
        let (start_time, (ns_dev, mnt_ns)) = read.map_err(|e| {
            // A process's /proc entries vanish only as it exits (a zombie
            // still takes signals, but has no namespaces left).
            if matches!(e.errno(), libc::ENOENT | libc::ESRCH) {
                exited_midway(what, pid)
            } else {
                Error::sys(format!("Cannot {what} process {pid}"), e).with_message(format!(
                    "Cannot {what} process {pid}: its /proc entry cannot be read"
                ))
            }
        })?;
        if let Some(want) = start
            && want != start_time
        {
            return Err(Error::new(
                Kind::NotFound,
                "pidfd_open",
                format!(
                    "Cannot {what} process {pid}: PID {pid} now names another process (it started at tick {start_time}, not {want}): the PID was reused"
                ),
            )
            .with_hint("find the container's process again (`runc state ID`)"));
        }
        let host =
            own_ns(&proc).map_err(|e| Error::sys("Cannot read bpfx's own mount namespace", e))?;
        if host == (ns_dev, mnt_ns) {
            return Err(Error::invalid(
                "setns",
                format!(
                    "Cannot {what} process {pid}: it is in bpfx's own mount namespace, not a container's"
                ),
            )
            .with_hint("expose without --into to put it on the host"));
        }
        Ok(Process {
            pidfd,
            ns: Namespace {
                pid,
                start_time,
                mnt_ns,
                ns_dev,
            },
        })
    }

    /// The process a record names, if it is still that process in that
    /// namespace; `None` when bpfx can no longer enter it (the process
    /// exited, or its PID names another process now).
    pub fn reopen(ns: &Namespace) -> Option<Process> {
        let p = Process::open(ns.pid, Some(ns.start_time), "enter").ok()?;
        (p.ns == *ns).then_some(p)
    }

    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Runs `f` on a thread of its own inside this process's mount
    /// namespace, given the container's root and the host's procfs; the
    /// thread ends with `f`.
    pub(super) fn enter<T: Send>(
        &self,
        what: &str,
        f: impl FnOnce(&Dir, &Dir) -> Result<T> + Send,
    ) -> Result<T> {
        let pid = self.ns.pid;
        let inside = || -> Result<T> {
            let proc = proc_dir().map_err(|e| Error::sys("Cannot open /proc", e))?;
            ns::unshare_fs().map_err(|e| Error::sys(format!("Cannot {what} process {pid}"), e))?;
            ns::setns_mnt(self.pidfd.as_fd()).map_err(|e| {
                if e.errno() == libc::ESRCH {
                    exited_midway(what, pid)
                } else {
                    Error::sys(
                        format!("Cannot enter the mount namespace of process {pid}"),
                        e,
                    )
                }
            })?;
            // The namespace entered is the one recorded.
            let here = ns_at(&proc, "thread-self")
                .map_err(|e| Error::sys("Cannot read the mount namespace entered", e))?;
            if here != self.ns.ns() {
                return Err(exited_midway(what, pid).with_message(format!(
                    "Cannot {what} process {pid}: it changed its mount namespace midway"
                )));
            }
            let root = Dir::open(Path::new("/"))
                .map_err(|e| Error::sys(format!("Cannot open the root of process {pid}"), e))?;
            // The namespace's root must be the process's own: a process that
            // is chrooted (or still being set up) sees another tree.
            let mine = root
                .stat("")
                .map_err(|e| Error::sys("Cannot stat the namespace's root", e))?;
            let theirs = root_of(&proc, pid).map_err(|e| {
                if matches!(e.errno(), libc::ENOENT | libc::ESRCH) {
                    exited_midway(what, pid)
                } else {
                    Error::sys(format!("Cannot stat the root of process {pid}"), e)
                }
            })?;
            if (mine.dev, mine.ino) != theirs {
                return Err(Error::invalid(
                    "setns",
                    format!(
                        "Cannot {what} process {pid}: its root is not its mount namespace's root (it is chrooted, or still being set up)"
                    ),
                ));
            }
            f(&root, &proc)
        };
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("bpfx-setns".into())
                .spawn_scoped(s, inside)
                .map_err(|e| Error::io("Cannot start the namespace thread", "clone", &e))?
                .join()
                .unwrap_or_else(|_| Err(Error::internal("the namespace thread panicked")))
        })
    }
}

/// Whether `expose --into` can work here: a thread enters a mount
/// namespace through a pidfd (bpfx's own, which changes nothing), and a
/// detached mount is made read-only.
pub fn probe() -> Result<()> {
    let pid = std::process::id();
    let proc = proc_dir().map_err(|e| Error::sys("Cannot open /proc", e))?;
    let (ns_dev, mnt_ns) =
        own_ns(&proc).map_err(|e| Error::sys("Cannot read bpfx's own mount namespace", e))?;
    let me = Process {
        pidfd: ns::pidfd_open(pid).map_err(|e| Error::sys("Cannot open a pidfd", e))?,
        ns: Namespace {
            pid,
            start_time: 0,
            mnt_ns,
            ns_dev,
        },
    };
    me.enter("enter", |root, _| {
        let tree =
            paths::clone_tree(root.fd()).map_err(|e| Error::sys("Cannot clone a mount", e))?;
        ns::mount_read_only(tree.as_fd())
            .map_err(|e| Error::sys("Cannot make a mount read-only", e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_field_22_after_the_command_name() {
        let line = b"4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 0 0 0\n";
        assert_eq!(parse_start_time(line), Some(987654));
        assert_eq!(parse_start_time(b"4242 (x) S 1"), None);
        assert_eq!(parse_start_time(b"no paren"), None);
    }

    #[test]
    fn a_missing_process_is_refused_clearly() {
        let _g = sys::fake::install(|c| match c {
            sys::Call::Named { op: "pidfd_open" } => sys::fake::errno(libc::ESRCH),
            _ => None,
        });
        let e = Process::open(999_999, None, "expose into")
            .err()
            .expect("refused");
        assert_eq!(e.kind, Kind::NotFound);
        assert_eq!(
            e.message,
            "Cannot expose into process 999999: no such process"
        );
    }

    #[test]
    fn a_process_that_exits_before_its_namespace_is_read_is_refused() {
        let _g = sys::fake::install(|c| match c {
            sys::Call::Named {
                op: "pidfd_send_signal",
            } => sys::fake::errno(libc::ESRCH),
            _ => None,
        });
        let me = std::process::id();
        let e = Process::open(me, None, "expose into")
            .err()
            .expect("refused");
        assert_eq!(
            e.message,
            format!("Cannot expose into process {me}: the process exited midway")
        );
        assert_eq!(e.errno, libc::ESRCH);
    }

    #[test]
    fn bpfx_own_namespace_is_refused_and_a_wrong_start_time_too() {
        let me = std::process::id();
        let e = Process::open(me, None, "expose into")
            .err()
            .expect("refused");
        assert_eq!(e.kind, Kind::Invalid);
        assert!(
            e.message.contains("bpfx's own mount namespace"),
            "{}",
            e.message
        );
        let e = Process::open(me, Some(1), "expose into")
            .err()
            .expect("refused");
        assert!(e.message.contains("the PID was reused"), "{}", e.message);
    }
}
