//! The trust check of a state directory: root's alone (a directory, owned
//! by this user, and writable by no one else), since what it holds decides
//! what root unmounts and removes.

use crate::error::{Error, Kind, Result, q};
use crate::sys;
use std::path::Path;

/// Refuses a state directory that is not root's alone: `dirs` is it and
/// every ancestor, by handle (`paths::ancestors`), itself first. It must be
/// a directory this user (root) owns that no one else may write; each
/// ancestor root-owned and writable by group or others only when sticky (or
/// anyone could swap the state directory for one of their making). `Ok(true)`:
/// trusted, but its mode gives group or others read or search (0755, as a
/// kubelet's hostPath makes it), so the caller tightens it to 0700.
pub(super) fn check_trusted(state: &Path, dirs: &[sys::fs::Stat]) -> Result<bool> {
    // SAFETY: no arguments.
    let me = unsafe { libc::geteuid() };
    let st = &dirs[0];
    let why = if !st.is_dir() {
        Some("it is not a directory".to_string())
    } else if st.uid != me {
        Some(format!(
            "it belongs to uid {}, not to {}",
            st.uid,
            owner_name(me)
        ))
    } else if st.mode & 0o022 != 0 {
        Some(format!(
            "group or others may write it (mode {:04o})",
            st.mode & 0o7777
        ))
    } else {
        unsafe_ancestor(state, &dirs[1..])
    };
    match why {
        None => Ok(st.mode & 0o077 != 0),
        Some(why) => Err(Error::new(
            Kind::Permission,
            "statx",
            format!("Cannot trust state directory {}: {why}", q(state)),
        )
        .with_path(state)
        .with_hint(
            "what it holds decides what bpfx removes and unmounts: give a directory only root owns and writes (mode 0700), under directories only root owns and writes (or sticky ones, as /tmp), or a missing one for bpfx to make",
        )),
    }
}

/// Why an ancestor (nearest first) lets someone else than root replace what
/// is below it, if one does.
fn unsafe_ancestor(state: &Path, up: &[sys::fs::Stat]) -> Option<String> {
    let names: Vec<&Path> = state.ancestors().skip(1).collect();
    up.iter().enumerate().find_map(|(i, a)| {
        let at = names
            .get(i)
            .map_or_else(|| "a directory above it".to_string(), |p| q(p).to_string());
        if a.uid != 0 {
            Some(format!(
                "the directory {at} on the way to it belongs to uid {}, who could swap it",
                a.uid
            ))
        } else if a.mode & 0o022 != 0 && a.mode & 0o1000 == 0 {
            Some(format!(
                "group or others may write the directory {at} on the way to it (mode {:04o}, not sticky), and so swap it",
                a.mode & 0o7777
            ))
        } else {
            None
        }
    })
}

fn owner_name(uid: u32) -> String {
    if uid == 0 {
        "root".into()
    } else {
        format!("uid {uid}")
    }
}
