//! A view or a cgroup link per selected cgroup over a subtree, in a mirror
//! of the cgroup tree.
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
//! - `detach`: `detach`, every view and link below a pin root removed;
//! - `existing`: the views and cgroup links found in a pin tree, and what
//!   each holds;
//! - `names`: the pin tree's names encoded, the program's pin, the rule's
//!   name checked;
//! - `report`: what attach, detach and a reconcile report, and the progress;
//! - `roots`: the pin and expose roots, checked and opened, and `Roots`;
//! - `sync`: one cgroup's view or link kept, replaced, made or removed;
//! - `tree`: `Tree`, a rule's trees brought to truth over a subtree.
//!
//! `Keeper`, here, is what records the rules: the state part implements it.

mod attach;
mod detach;
mod existing;
mod names;
mod report;
mod roots;
mod sync;
mod tree;

pub use attach::{AttachOptions, attach, waiting_why};
pub use detach::detach;
pub use existing::{Pinned, pinned};
pub use names::{decode, encode, encode_rel, prog_pin};
pub use report::{AttachReport, DetachReport, Item, PROGRESS, Placed, Skipped};
pub use tree::Tree;

use crate::attach::rule::Rule;
use crate::error::{Error, Result};
use crate::sys;
use std::path::Path;

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
