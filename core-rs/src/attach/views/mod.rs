//! Views: iterator links made with the parameters their target takes,
//! pinned in bpffs, so that reading the pin runs the program.
//!
//! The kernel reads `union bpf_iter_link_info` by the program's target and
//! refuses nothing that is merely meant for another target, so every
//! parameter is checked here against the target named by the program's
//! `attach_btf_id` (`bpf_iter_<target>`).
//!
//! This file makes a view (`create`: the link, its pin); its parts:
//! - `program`: the iterator program a view is made from, and its target;
//! - `params`: the parameters a caller may give, checked against the target;
//! - `reader`: reading a view through the data lane.

mod params;
mod program;
mod reader;

pub use params::{ViewParams, link_params, order};
pub use program::{IterProg, open_prog, target_of};
pub use reader::{Reader, open_reader, read_error, read_text};

use crate::error::{Error, Result};
use crate::fs::mounts;
use crate::kernel::info::{self, ObjKind, ObjectInfo};
use crate::{kernel::pins, sys};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Checks that `pin` can be made for a view.
pub fn check_pin_path(pin: &Path) -> Result<()> {
    pins::check_new(pin, "view")
}

/// Makes an iterator link of `prog` with `params`.
pub fn make_link(prog: BorrowedFd<'_>, target: &str, params: sys::IterParams) -> Result<OwnedFd> {
    sys::bpf_link_create_iter(prog, params).map_err(|e| {
        let err = Error::sys(format!("Cannot make a \"{target}\" iterator link"), e);
        match (err.errno, params) {
            (libc::ENOENT, sys::IterParams::Cgroup { cgroup_id, .. }) => err.with_message(format!(
                "Cannot make a \"{target}\" iterator link: no cgroup has id {cgroup_id} (was it removed?)"
            )),
            _ => err,
        }
    })
}

/// Pins the view `link` at `pin`.
pub fn pin_link(link: BorrowedFd<'_>, pin: &Path) -> Result<()> {
    pins::pin_at(link, pin, "view")
}

/// Makes one view: an iterator link of `prog` with `params`, pinned at `pin`.
/// Nothing is pinned unless every check passes.
pub fn create(
    prog: &str,
    pin: &Path,
    params: &ViewParams,
    pin_by_name_root: Option<&Path>,
) -> Result<ObjectInfo> {
    let pin = mounts::absolute(pin);
    check_pin_path(&pin)?;
    let (prog, target) = open_prog(prog, pin_by_name_root)?;
    let (params, _keep) = link_params(&target, params)?;
    let link = make_link(prog.fd()?, &target, params)?;
    pin_link(link.as_fd(), &pin)?;
    let mut i = info::info_of_kind(link.as_fd(), ObjKind::Link)?;
    i.path = Some(pin.display().to_string());
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    #[test]
    fn a_vanished_cgroup_is_named_in_the_error() {
        let _g = sys::fake::install(|c| match c {
            sys::Call::Bpf {
                cmd: sys::BpfCmd::LinkCreate,
                ..
            } => sys::fake::errno(libc::ENOENT),
            _ => None,
        });
        let f = std::fs::File::open("/dev/null").unwrap();
        let e = make_link(
            f.as_fd(),
            "cgroup",
            sys::IterParams::Cgroup {
                order: 1,
                cgroup_fd: 0,
                cgroup_id: 99,
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert_eq!(e.op, "BPF_LINK_CREATE");
        assert!(e.message.contains("no cgroup has id 99"), "{}", e.message);
    }
}
