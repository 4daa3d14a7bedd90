//! One cgroup's view or link, kept, replaced, made or removed (a
//! `Tree`'s work per cgroup): a link is right when it is of that cgroup
//! and of the program (or one with the same instructions, `ProgKey`); the
//! object is pinned, then exposed, and a removal takes the mirror's symlink
//! before the pin.

use super::existing::{Existing, held_at, held_by};
use super::names::encode_rel;
use super::report::{AttachReport, Skipped, item};
use super::roots::Roots;
use super::sys_err;
use super::tree::Tree;
use crate::attach::{cgroup_links, views};
use crate::error::{Kind, Result, q};
use crate::fs::paths::Dir;
use crate::kernel::info::{self, Detail, ObjKind};
use crate::sys;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

impl Tree {
    pub(super) fn remove_one(
        &self,
        roots: &Roots,
        rel: &Path,
        old: &Existing,
        report: &mut AttachReport,
    ) -> Result<()> {
        let pin = self.pin(rel);
        let expose = self.expose(rel);
        remove_view(roots, rel, old, self.name.as_ref(), &pin)?;
        let link = old.held.attach.map(|_| old.held.link_id);
        report
            .removed
            .push(item(rel, old.cgroup_id, &pin, &expose).link(link));
        Ok(())
    }

    /// Keeps, replaces or makes the view or link of one cgroup; what fails
    /// is skipped and reported.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sync_one(
        &self,
        roots: &Roots,
        prog: BorrowedFd<'_>,
        prog_key: &ProgKey,
        rel: &Path,
        id: u64,
        old: Option<Existing>,
        report: &mut AttachReport,
    ) {
        if let Err(e) = self.try_sync_one(roots, prog, prog_key, rel, id, old, report) {
            report.skipped.push(Skipped {
                cgroup: rel.to_path_buf(),
                why: e.message.clone(),
            });
        }
    }

    /// Makes the object for the cgroup `id` at `rel`: a `self`-order
    /// iterator link (a view), or the program's link on the cgroup, opened
    /// by handle below the cgroup root and checked to be that cgroup still.
    /// `None`: the cgroup is gone (reported as skipped).
    fn make_object(
        &self,
        roots: &Roots,
        prog: BorrowedFd<'_>,
        rel: &Path,
        id: u64,
        report: &mut AttachReport,
    ) -> Result<Option<OwnedFd>> {
        let gone = |report: &mut AttachReport| {
            report.skipped.push(Skipped {
                cgroup: rel.to_path_buf(),
                why: format!(
                    "the cgroup was removed before its {} was made",
                    if self.attach.is_some() {
                        "link"
                    } else {
                        "view"
                    }
                ),
            });
            Ok(None)
        };
        let Some(attach) = self.attach else {
            let params = sys::IterParams::Cgroup {
                order: 1,
                cgroup_fd: 0,
                cgroup_id: id,
            };
            return match views::make_link(prog, "cgroup", params) {
                Ok(l) => Ok(Some(l)),
                Err(e) if e.kind == Kind::NotFound => gone(report),
                Err(e) => Err(e),
            };
        };
        let top = roots
            .cgroups
            .as_ref()
            .expect("a link tree opens its cgroup root");
        let cg = match top.open_rel(rel, true) {
            Ok(d) => d,
            Err(e) if e.errno() == libc::ENOENT => return gone(report),
            Err(e) => {
                let p = top.path().join(rel);
                return Err(sys_err(format!("Cannot open cgroup {}", q(&p)), &p, e));
            }
        };
        if !cg.stat("").is_ok_and(|st| st.ino == id) {
            return gone(report); // and made again: the next event takes it
        }
        cgroup_links::make(prog, cg.fd(), attach, rel).map(Some)
    }

    #[allow(clippy::too_many_arguments)]
    fn try_sync_one(
        &self,
        roots: &Roots,
        prog: BorrowedFd<'_>,
        prog_key: &ProgKey,
        rel: &Path,
        id: u64,
        old: Option<Existing>,
        report: &mut AttachReport,
    ) -> Result<()> {
        let pin = self.pin(rel);
        let expose = self.expose(rel);
        let name = self.name.as_str();
        let not_ours = |report: &mut AttachReport| {
            report.skipped.push(Skipped {
                cgroup: rel.to_path_buf(),
                why: format!("{} exists and is not bpfx's: left alone", q(&expose)),
            })
        };
        let mkdirs = |root: &Dir, rel: &Path, shown: &Path| {
            root.make_rel(rel, 0o755, false).map_err(|e| {
                let d = shown.parent().unwrap_or(shown);
                sys_err(format!("Cannot make directory {}", q(d)), d, e)
            })
        };
        let exp_dir = roots
            .expose
            .as_ref()
            .and_then(|e| e.open_rel(rel, false).ok());
        let there = |d: &Option<Dir>| d.as_ref().is_some_and(|d| d.stat(name).is_ok());
        let ours = |d: &Option<Dir>| d.as_ref().is_some_and(|d| d.links_to(name, &pin));
        if let Some(old) = old {
            // A link is right when it is of this cgroup and this program
            // (or one with the same instructions). One of this cgroup that
            // holds another program is moved onto this one in one step
            // (BPF_LINK_UPDATE), so the hook is never empty; a view the
            // kernel will not move stays as it is, a cgroup link is made
            // again.
            let mut same_prog = prog_key.same(old.held.prog_id);
            let mut moved = false;
            if old.cgroup_id == id && !same_prog {
                moved = self.move_link(roots, prog, &old, &pin).is_ok();
                same_prog = moved || self.attach.is_none();
            }
            if old.cgroup_id == id && same_prog {
                if let Some(expose_dir) = &roots.expose
                    && !ours(&exp_dir)
                {
                    if there(&exp_dir) {
                        not_ours(report);
                        return Ok(());
                    }
                    mkdirs(expose_dir, rel, &expose)?
                        .symlink(&pin, name)
                        .map_err(|e| {
                            sys_err(format!("Cannot expose {}", q(&expose)), &expose, e)
                        })?;
                }
                let link = old.held.attach.map(|_| old.held.link_id);
                let done = item(rel, id, &pin, &expose).link(link);
                if moved {
                    report.moved.push(done);
                } else {
                    report.kept.push(done);
                }
                return Ok(());
            }
            // The cgroup was removed and made again, or the program is
            // another: the old one is stale.
            self.remove_one(roots, rel, &old, report)?;
        }
        if ours(&exp_dir) {
            // A symlink of ours left by a crash, to a pin that is gone.
            if let Some(d) = &exp_dir {
                let _ = d.unlink(name);
            }
        } else if there(&exp_dir) {
            not_ours(report);
            return Ok(());
        }
        let Some(link) = self.make_object(roots, prog, rel, id, report)? else {
            return Ok(());
        };
        let what = if self.attach.is_some() {
            "link"
        } else {
            "view"
        };
        let pin_dir = roots.pin_dir(&encode_rel(rel)).map_err(|e| {
            let d = pin.parent().unwrap_or(&pin);
            sys_err(format!("Cannot make directory {}", q(d)), d, e)
        })?;
        pin_dir.pin(link.as_fd(), name).map_err(|e| {
            let err = sys_err(format!("Cannot pin the {what} at {}", q(&pin)), &pin, e);
            if err.kind == Kind::Exists {
                err.with_message(format!(
                    "Cannot pin the {what} at {}: something else has that name (a child cgroup named like the {what}?)",
                    q(&pin)
                ))
            } else {
                err
            }
        })?;
        if let Some(expose_dir) = &roots.expose {
            let made = mkdirs(expose_dir, rel, &expose).and_then(|d| {
                d.symlink(&pin, name)
                    .map_err(|e| sys_err(format!("Cannot expose {}", q(&expose)), &expose, e))
            });
            if let Err(e) = made {
                let _ = pin_dir.unlink(name);
                roots.pin.prune(&encode_rel(rel), false);
                return Err(e);
            }
        }
        let link_id = self
            .attach
            .and_then(|_| held_by(link.as_fd()))
            .map(|h| h.link_id);
        report.made.push(item(rel, id, &pin, &expose).link(link_id));
        Ok(())
    }
}

impl Tree {
    /// Moves the link `old` (pinned at `pin`) onto `prog` with
    /// `BPF_LINK_UPDATE`, only while it still holds the program it held
    /// when read (`BPF_F_REPLACE`), and only if the pin still holds that
    /// link.
    fn move_link(
        &self,
        roots: &Roots,
        prog: BorrowedFd<'_>,
        old: &Existing,
        pin: &Path,
    ) -> Result<()> {
        let fail = |e: sys::SysError| sys_err(format!("Cannot move link {}", q(pin)), pin, e);
        let d = roots.pin.open_rel(&old.enc_rel, false).map_err(fail)?;
        let link = d.obj_get(&self.name).map_err(fail)?;
        if held_by(link.as_fd()).map(|h| h.link_id) != Some(old.held.link_id) {
            return Err(crate::error::Error::new(
                Kind::Busy,
                "BPF_LINK_UPDATE",
                format!("Cannot move link {}: it was replaced meanwhile", q(pin)),
            ));
        }
        let was = sys::progs::prog_fd_by_id(old.held.prog_id).map_err(fail)?;
        crate::kernel::link_update::update_fd(link.as_fd(), prog, Some(was.as_fd()), &q(pin))?;
        Ok(())
    }
}

/// The program a reconcile attaches, to tell whether a link holds it: the
/// same program, or one with the same instructions (its tag), as a second
/// attach of `OBJ:NAME` loads the program again.
pub(super) struct ProgKey {
    id: Option<u32>,
    tag: Option<String>,
    /// Other programs' ids, and whether their tag is this one's.
    known: std::cell::RefCell<std::collections::HashMap<u32, bool>>,
}

impl ProgKey {
    pub(super) fn of(fd: BorrowedFd<'_>) -> ProgKey {
        let (id, tag) = match prog_info(fd) {
            Some((id, tag)) => (Some(id), Some(tag)),
            None => (None, None),
        };
        ProgKey {
            id,
            tag,
            known: Default::default(),
        }
    }

    fn same(&self, other: u32) -> bool {
        if self.id == Some(other) {
            return true;
        }
        *self.known.borrow_mut().entry(other).or_insert_with(|| {
            let tag = sys::progs::prog_fd_by_id(other)
                .ok()
                .and_then(|fd| prog_info(fd.as_fd()));
            self.tag.is_some() && tag.map(|(_, t)| t) == self.tag
        })
    }
}

/// The id and tag of the program `fd`.
fn prog_info(fd: BorrowedFd<'_>) -> Option<(u32, String)> {
    let i = info::info_of_kind(fd, ObjKind::Prog).ok()?;
    match i.detail {
        Detail::Prog(p) => Some((i.id, p.tag)),
        _ => None,
    }
}

/// Removes one view or link and its mirror symlink, if the symlink is
/// bpfx's. The symlink goes first: a crash between the two leaves a pin,
/// which the next reconcile finds, rather than a symlink to nothing. The
/// pin is checked again right before it goes: still the same kind, of the
/// same cgroup. Unpinning a cgroup link detaches its program.
pub(super) fn remove_view(
    roots: &Roots,
    rel: &Path,
    old: &Existing,
    name: &std::ffi::OsStr,
    pin: &Path,
) -> Result<()> {
    if let Some(expose) = &roots.expose
        && let Ok(d) = expose.open_rel(rel, false)
        && d.links_to(name, pin)
    {
        d.unlink(name).map_err(|e| {
            let p = d.path().join(name);
            sys_err(format!("Cannot remove {}", q(&p)), &p, e)
        })?;
        expose.prune(rel, false);
    }
    let d = match roots.pin.open_rel(&old.enc_rel, false) {
        Ok(d) => d,
        Err(e) if e.errno() == libc::ENOENT => return Ok(()),
        Err(e) => return Err(sys_err(format!("Cannot unpin {}", q(pin)), pin, e)),
    };
    if held_at(&d, name)
        .is_some_and(|h| h.cgroup_id == old.cgroup_id && h.attach == old.held.attach)
    {
        match d.unlink(name) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::ENOENT => {}
            Err(e) => return Err(sys_err(format!("Cannot unpin {}", q(pin)), pin, e)),
        }
    }
    roots.pin.prune(&old.enc_rel, false);
    Ok(())
}
