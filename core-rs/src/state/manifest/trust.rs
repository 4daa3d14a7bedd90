//! The trust check of a state directory: root's alone (a directory, owned
//! by this user, and writable by no one else), since what it holds decides
//! what root unmounts and removes.

use crate::error::{Error, Kind, Result, q};
use crate::sys;
use std::path::Path;

/// Refuses a state directory that is not root's alone.
pub(super) fn check_trusted(state: &Path, st: &sys::fs::Stat) -> Result<()> {
    // SAFETY: no arguments.
    let me = unsafe { libc::geteuid() };
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
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(Error::new(
            Kind::Permission,
            "statx",
            format!("Cannot trust state directory {}: {why}", q(state)),
        )
        .with_path(state)
        .with_hint(
            "what it holds decides what bpfx removes and unmounts: give a directory only root owns and writes (mode 0700), or a missing one for bpfx to make",
        )),
    }
}

fn owner_name(uid: u32) -> String {
    if uid == 0 {
        "root".into()
    } else {
        format!("uid {uid}")
    }
}
