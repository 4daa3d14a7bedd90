//! A view per cgroup over a subtree, in a mirror of the cgroup tree.
//!
//! cgroupfs lets no one create arbitrary files in a cgroup's directory, so
//! bpfx builds two trees shaped like the cgroup subtree:
//! - under the pin root (bpffs), `<relative cgroup path>/<name>`: a
//!   `self`-order cgroup iterator link for that cgroup;
//! - under the expose root (any filesystem), the same relative path holding a
//!   symlink `<name>` to that pin, so that reading it runs the view.
//!
//! bpffs refuses `.` in names, so in the pin tree each directory name is
//! encoded: `%` becomes `%25` and `.` becomes `%2E` (reversible). The mirror
//! keeps the cgroups' own names.
//!
//! - `attach`: `attach` and its options: the program opened, the roots and
//!   the depth checked, the subtree reconciled, the rule kept;
//! - `existing`: the views and cgroup links found in a pin tree, and what
//!   each holds;
//! - `names`: the pin tree's names encoded, the program's pin, the rule's
//!   name checked;
//! - `report`: what attach, detach and a reconcile report, and the progress;
//! - `roots`: the pin and expose roots, checked and opened, and `Roots`;
//! - `sync`: one cgroup's view or link kept, replaced, made or removed;
//! - `tree`: `Tree`, a rule's trees brought to truth over a subtree;

mod attach;
mod existing;
mod names;
mod report;
mod roots;
mod sync;
mod tree;

pub use attach::{AttachOptions, attach};
pub use existing::{Pinned, pinned};
pub use names::{decode, encode, encode_rel, prog_pin};
pub use report::{AttachReport, DetachReport, Item, PROGRESS, Placed, Skipped};
pub use tree::Tree;

use existing::{Want, existing_views};
use report::{item, progress};
use roots::{Roots, open_expose_root, open_pin_root, plain};
use sync::remove_view;

use crate::attach::rule::Rule;
use crate::error::{Error, Result};
use crate::sys;
use std::path::{Path, PathBuf};

fn sys_err(what: String, path: &Path, e: sys::SysError) -> Error {
    Error::sys(what, e).with_path(path)
}

/// What records attach rules: the state part (the manifest's rules, the
/// attach status, the rules' exposures into containers). Given one, attach
/// and detach hold its lock from [`Keeper::lock`] to their end, so that
/// attach, detach and the watcher never work on one tree at once.
pub trait Keeper {
    /// Takes the state directory's lock: once the arguments are checked,
    /// before anything is made.
    fn lock(&mut self) -> Result<()>;
    /// Records `rule`, just made true, with what its attach did (`report`
    /// gains what was exposed into containers, and what failed there).
    fn keep(&mut self, rule: &Rule, tree: &Tree, report: &mut AttachReport) -> Result<()>;
    /// Forgets the rules of `pin_root` (named `name`, or any) and removes
    /// their exposures into containers; returns the rules forgotten.
    fn forget(&mut self, pin_root: &Path, name: Option<&str>) -> Result<Vec<Rule>>;
    /// Forgets the recorded status of the rules `gone`.
    fn forgotten(&mut self, gone: &[Rule]) -> Result<()>;
}

/// Removes every view and cgroup link below `pin_root` (named `name`, or
/// any) and the mirror symlinks that point at them, and with a `keeper`
/// forgets the matching attach rules. Touches nothing else. With a keeper
/// (a state directory), its lock is held throughout: the watcher makes
/// nothing for a rule while it goes, and nothing is left when this returns.
pub fn detach(
    pin_root: &Path,
    expose_root: Option<&Path>,
    name: Option<&str>,
    mut keeper: Option<&mut dyn Keeper>,
) -> Result<DetachReport> {
    let pin_root = plain(pin_root, "pin root")?;
    let expose_root = expose_root.map(|e| plain(e, "expose root")).transpose()?;
    if let Some(k) = keeper.as_deref_mut() {
        k.lock()?;
    }
    let pins = open_pin_root(&pin_root, false)?;
    if let Some(keeper) = keeper {
        let gone = keeper.forget(&pin_root, name)?;
        for r in &gone {
            let p = prog_pin(&r.pin_root, &r.name);
            if let (true, Some(root), Some(file)) =
                (r.prog == p, &pins, p.file_name().and_then(|n| n.to_str()))
            {
                let _ = root.unlink(file);
            }
        }
        keeper.forgotten(&gone)?;
    }
    let Some(pins) = pins else {
        return Ok(DetachReport::default());
    };
    let expose = match &expose_root {
        Some(e) => open_expose_root(e, false)?,
        None => None,
    };
    let roots = Roots::new(pins, expose, None);
    let existing = existing_views(&roots.pin, Path::new(""), name, Want::Any)?;
    let total = existing.len() as u64;
    progress(0, total);
    let mut report = DetachReport::default();
    for (done, (key, old)) in existing.into_iter().enumerate() {
        let rel = key.parent().unwrap_or(Path::new("")).to_path_buf();
        let file = key.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let pin = pin_root.join(&old.enc_rel).join(file);
        let exposed = expose_root
            .as_ref()
            .map_or_else(PathBuf::new, |e| e.join(&key));
        remove_view(&roots, &rel, &old, file, &pin)?;
        let link = old.held.attach.map(|_| old.held.link_id);
        report
            .removed
            .push(item(&rel, old.cgroup_id, &pin, &exposed).link(link));
        progress(done as u64 + 1, total);
    }
    Ok(report)
}
