//! `attach`: what it is asked (`AttachOptions`), the program opened (a
//! cgroup iterator makes views, a cgroup program links), the roots and the
//! depth checked before anything is made, the subtree reconciled, and with
//! a `Keeper` the rule recorded.

use super::existing::held_at;
use super::names::{check_name, prog_pin};
use super::report::AttachReport;
use super::roots::{check_expose_fs, open_expose_root, open_pin_root, plain};
use super::tree::Tree;
use super::{Keeper, sys_err};
use crate::attach::cgroup_links::{self, Selection};
use crate::attach::rule::{Rule, RuleKind};
use crate::attach::views;
use crate::error::{Error, Kind, Result, q};
use crate::fs::cgroups;
use crate::fs::mounts;
use crate::fs::paths::Dir;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// What `attach` is asked (the `attach` request of the ABI, as it is).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachOptions {
    pub prog: String,
    pub cgroup_root: String,
    pub pin_root: PathBuf,
    /// Needed for views; optional for a cgroup program's links.
    pub expose_root: Option<PathBuf>,
    pub name: String,
    pub pin_by_name_root: Option<PathBuf>,
    /// A cgroup program's attach type, when not the one its section names.
    pub attach_type: Option<String>,
    /// Only the cgroups this many levels below the root.
    pub depth: Option<u32>,
    /// Only the cgroups whose name matches this glob.
    #[serde(rename = "match")]
    pub glob: Option<String>,
    /// With a state directory, the attach is recorded as a rule that the
    /// watcher keeps true as cgroups come and go.
    pub state: Option<PathBuf>,
    /// Also expose each view at this path inside the container its cgroup
    /// holds (needs `state`: `state::exposures::cover` does it).
    pub into_containers: Option<PathBuf>,
    /// With a state directory, a cgroup root that does not exist yet is
    /// not refused: the rule is recorded, nothing is made, and the watcher
    /// fills the rule when the root appears.
    #[serde(default)]
    pub wait_for_root: bool,
}

/// What `attach` says of a rule whose cgroup root is missing.
pub fn waiting_why(root: &Path) -> String {
    format!(
        "cgroup root {} does not exist yet: the watcher fills the rule when it appears",
        q(root)
    )
}

/// Makes, keeps and removes views so that every cgroup of the subtree has
/// exactly one, pinned and exposed. Running it again changes nothing. With
/// a `keeper` (a state directory), the attach is recorded as a rule, under
/// its lock.
pub fn attach(o: &AttachOptions, mut keeper: Option<&mut dyn Keeper>) -> Result<AttachReport> {
    check_name(&o.name)?;
    let (top_path, missing) = match cgroups::resolve(&o.cgroup_root) {
        Ok(top) => {
            let top_path = top.path.ok_or_else(|| {
                Error::invalid("attach", "Give the cgroup root as a path, not an id")
            })?;
            // Rules store canonical paths: a root given through a symlink or
            // `..` is recorded (and matched against events) as what it
            // resolves to.
            (cgroups::canonical(&top_path)?, false)
        }
        Err(e) if e.errno == libc::ENOENT && o.wait_for_root && keeper.is_some() => {
            // As far as it exists, canonical; the rest as given.
            let (near, _, rest) = cgroups::nearest(&o.cgroup_root)?;
            (near.join(rest), true)
        }
        Err(e) => return Err(e),
    };
    let pin_root = plain(&o.pin_root, "pin root")?;
    let expose_root = o
        .expose_root
        .as_deref()
        .map(|e| plain(e, "expose root"))
        .transpose()?;
    if let Some(p) = &o.into_containers {
        crate::attach::rule::check_rule_path(p, keeper.is_some())?;
    }
    if let Some(k) = keeper.as_deref_mut() {
        k.lock()?;
    }
    // Check the roots before anything is made.
    if Dir::open(&pin_root).is_err() {
        let parent = pin_root.parent().unwrap_or(Path::new("/"));
        mounts::require_bpffs_dir(parent, "pin views")?;
    }
    if let Some(expose_root) = &expose_root {
        open_expose_root(expose_root, false)?;
        let mut on = expose_root.as_path();
        while let Err(e) = Dir::open(on) {
            if e.errno() != libc::ENOENT {
                break;
            }
            on = on.parent().unwrap_or(Path::new("/"));
        }
        if let Ok(d) = Dir::open(on) {
            check_expose_fs(expose_root, &d)?;
        }
    }

    let prog = open_any(o)?;
    let (attach, select) = match &prog {
        AnyProg::View(_) => {
            if expose_root.is_none() {
                return Err(Error::invalid(
                    "attach",
                    "Give an expose root: views are read through their mirror of the cgroup tree",
                ));
            }
            let select = Selection {
                depth: o.depth,
                glob: o.glob.clone(),
            };
            (None, select)
        }
        AnyProg::Link(_, attach_type) => {
            if o.into_containers.is_some() {
                return Err(Error::invalid(
                    "attach",
                    "Cannot put a cgroup program's links into containers: they are no files to read. Only views (cgroup iterator programs) go into containers; drop intoContainers (--into-containers) for this program",
                ));
            }
            // A program on a cgroup runs for its descendants too: with no
            // selection, the root alone.
            let select = Selection {
                depth: o.depth.or(o.glob.is_none().then_some(0)),
                glob: o.glob.clone(),
            };
            (Some(cgroup_links::value(attach_type)?), select)
        }
    };
    let tree = Tree {
        pin_root,
        expose_root,
        name: o.name.clone(),
        attach,
        select,
    };
    let report = if missing {
        AttachReport {
            waiting: Some(waiting_why(&top_path)),
            ..AttachReport::default()
        }
    } else {
        let walk = cgroups::walk(&top_path)?;
        if let Some(depth) = o.depth {
            check_depth(&top_path, &walk, depth)?;
        }
        tree.reconcile_walk(prog.fd()?, &top_path, walk)?
    };
    if let Some(keeper) = keeper {
        let prog_path = if prog.loaded() {
            let p = prog_pin(&tree.pin_root, &tree.name);
            let root = open_pin_root(&tree.pin_root, true)?.expect("made");
            let file = p.file_name().and_then(|n| n.to_str()).expect("named");
            if held_at(&root, file).is_none() {
                let _ = root.unlink(file);
            }
            root.pin(prog.fd()?, file)
                .map_err(|e| sys_err(format!("Cannot pin the program at {}", q(&p)), &p, e))?;
            p
        } else {
            mounts::absolute(Path::new(&o.prog))
        };
        let rule = Rule {
            prog: prog_path,
            cgroup_root: top_path.clone(),
            pin_root: tree.pin_root.clone(),
            expose_root: tree.expose_root.clone().unwrap_or_default(),
            name: tree.name.clone(),
            kind: if attach.is_some() {
                RuleKind::Link
            } else {
                RuleKind::View
            },
            attach_type: attach.and_then(cgroup_links::name_of).map(str::to_string),
            depth: tree.select.depth,
            glob: tree.select.glob.clone(),
            into_containers: o.into_containers.clone(),
        };
        let mut report = report;
        keeper.keep(&rule, &tree, &mut report)?;
        return Ok(report);
    }
    Ok(report)
}

/// The program of an attach: a cgroup iterator (views), or a cgroup
/// program with the attach type it takes (links).
enum AnyProg {
    View(views::IterProg),
    Link(crate::attach::links::Opened, &'static str),
}

impl AnyProg {
    fn fd(&self) -> Result<BorrowedFd<'_>> {
        match self {
            AnyProg::View(p) => p.fd(),
            AnyProg::Link(p, _) => p.prog.fd(),
        }
    }

    /// Loaded from `OBJ:NAME` for this attach (not a pin).
    fn loaded(&self) -> bool {
        match self {
            AnyProg::View(p) => matches!(p, views::IterProg::Loaded { .. }),
            AnyProg::Link(p, _) => matches!(p.prog, crate::attach::links::Prog::Loaded { .. }),
        }
    }
}

/// Opens the program of `o`: a cgroup iterator makes views; anything else
/// (or any program with an attach type given) must be a cgroup program.
fn open_any(o: &AttachOptions) -> Result<AnyProg> {
    let root = o.pin_by_name_root.as_deref();
    if o.attach_type.is_none() {
        match views::open_prog(&o.prog, root) {
            Ok((_, target)) if target != "cgroup" => {
                return Err(Error::invalid(
                    "attach",
                    format!(
                        "attach needs a cgroup iterator program, but {} iterates \"{target}\"",
                        o.prog
                    ),
                )
                .with_hint("use a program from a SEC(\"iter/cgroup\") section"));
            }
            Ok((p, _)) => return Ok(AnyProg::View(p)),
            Err(e) if e.kind == Kind::WrongKind => {}
            Err(e) => return Err(e),
        }
    }
    let p = crate::attach::links::open_prog(&o.prog, root)?;
    let at = cgroup_links::resolve(
        &p.what,
        &p.type_name,
        p.section.as_deref(),
        o.attach_type.as_deref(),
    )?;
    Ok(AnyProg::Link(p, at))
}

/// Refuses a depth the tree at `top` cannot hold: no cgroup one level
/// above it, to be the parent of the cgroups it selects. The level below
/// the deepest cgroup is allowed: a rule for the children to come (each
/// container) starts with none.
fn check_depth(top: &Path, walk: &cgroups::Walk, depth: u32) -> Result<()> {
    let deepest = walk
        .cgroups
        .iter()
        .map(|(rel, _)| rel.components().count() as u32)
        .max()
        .unwrap_or(0);
    if depth > deepest + 1 {
        let levels = |n: u32| format!("{n} level{}", if n == 1 { "" } else { "s" });
        return Err(Error::invalid(
            "attach",
            format!(
                "Depth {depth} is beyond the tree at {}: no cgroup is {} below it to hold cgroups {} below (the deepest is {} below)",
                q(top),
                levels(depth - 1),
                levels(depth),
                levels(deepest)
            ),
        )
        .with_hint("give a depth (--depth) within the tree (0 is the root, 1 each child), or make the cgroups first"));
    }
    Ok(())
}
