//! An exposure made inside a container, found again by entering its
//! namespace: its removal, and its state.

use super::{Process, in_container};
use crate::error::{Error, Result};
use crate::expose::exposure::{Exposure, Namespace};
use crate::expose::place::{Removal, is_our_mount, remove_placeholder, split};
use crate::fs::paths::{Dir, MountId};
use crate::sys::{SysError, ns};
use std::os::fd::{AsFd, AsRawFd as _};
use std::path::Path;

/// Removes the exposure `x` made inside a container: enters its namespace
/// (only while the recorded process is still there), checks the mount at
/// its path is the one recorded, unmounts it and removes its placeholder.
pub fn remove(x: &Exposure, ns: &Namespace) -> Result<Removal> {
    let ns = *ns;
    let Some(p) = Process::reopen(&ns) else {
        // The namespace cannot be entered: its process is gone (and with a
        // container's init, the namespace and the mount too).
        return Ok(Removal::Gone);
    };
    let Some(rec) = x.mount else {
        return Ok(Removal::NotOurs(
            "the manifest records no mount for it".into(),
        ));
    };
    let id = MountId::from(rec);
    let (dir, name) = split(&x.path)?;
    let fail = |e: SysError| {
        Error::sys(
            format!("Cannot remove exposure {}", in_container(&x.path, ns.pid)),
            e,
        )
        .with_path(&x.path)
    };
    p.enter("remove an exposure in", |root, proc| {
        let d = match Dir::open_in(root, &dir) {
            Ok(d) => d,
            Err(e) if matches!(e.errno(), libc::ENOENT | libc::ELOOP) => return Ok(Removal::Gone),
            Err(e) => return Err(fail(e)),
        };
        let fd = match d.open_path(&name) {
            Ok(fd) => fd,
            Err(e) if matches!(e.errno(), libc::ENOENT | libc::ELOOP) => return Ok(Removal::Gone),
            Err(e) => return Err(fail(e)),
        };
        if !is_our_mount(fd.as_fd(), &id) {
            return Ok(Removal::NotOurs(
                "another file or mount, not the one bpfx made, is there".into(),
            ));
        }
        // umount2 takes a path: the fd's magic link on the host's procfs
        // names this very mount, from inside the namespace.
        ns::fchdir(proc.fd()).map_err(fail)?;
        ns::umount_rel(Path::new(&format!("thread-self/fd/{}", fd.as_raw_fd()))).map_err(fail)?;
        drop(fd);
        remove_placeholder(&d, &name);
        Ok(Removal::Removed { moved_to: None })
    })
}

/// The state of an exposure inside a container: `ns-gone` when its process
/// is gone, else what is at its path there (`ok`, `unmounted`, `path-gone`).
pub fn state_of(x: &Exposure, ns: &Namespace) -> &'static str {
    let Some(p) = Process::reopen(ns) else {
        return "ns-gone";
    };
    let id = x.mount.map(MountId::from);
    let Some((dir, name)) = split(&x.path).ok() else {
        return "path-gone";
    };
    p.enter("read an exposure in", |root, _| {
        let Ok(d) = Dir::open_in(root, &dir) else {
            return Ok("path-gone");
        };
        Ok(match d.open_path(&name) {
            Ok(fd) if id.is_some_and(|id| is_our_mount(fd.as_fd(), &id)) => "ok",
            Ok(_) => "unmounted",
            Err(_) => "path-gone",
        })
    })
    .unwrap_or("ns-gone")
}
