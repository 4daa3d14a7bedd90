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

use crate::cgroups;
use crate::error::{Error, Kind, Result, q};
use crate::info::{self, Detail, ObjKind};
use crate::manifest::{self, Rule};
use crate::mounts;
use crate::paths::{self, Dir};
use crate::views;
use crate::{pins, sys};
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Progress of the running bulk operation: (done, total).
pub static PROGRESS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

fn progress(done: u64, total: u64) {
    PROGRESS[1].store(total, Ordering::Relaxed);
    PROGRESS[0].store(done, Ordering::Relaxed);
}

/// Encodes one cgroup directory name for bpffs.
pub fn encode(name: &str) -> String {
    name.replace('%', "%25").replace('.', "%2E")
}

/// Decodes a bpffs directory name made by [`encode`].
pub fn decode(name: &str) -> String {
    name.replace("%2E", ".").replace("%25", "%")
}

pub fn encode_rel(rel: &Path) -> PathBuf {
    rel.iter().map(|c| encode(&c.to_string_lossy())).collect()
}

fn decode_rel(rel: &Path) -> PathBuf {
    rel.iter().map(|c| decode(&c.to_string_lossy())).collect()
}

pub struct AttachOptions {
    pub prog: String,
    pub cgroup_root: String,
    pub pin_root: PathBuf,
    pub expose_root: PathBuf,
    pub name: String,
    pub pin_by_name_root: Option<PathBuf>,
    /// With a state directory, the attach is recorded as a rule that the
    /// watcher keeps true as cgroups come and go.
    pub state: Option<PathBuf>,
    /// Also expose each view at this path inside the container its cgroup
    /// holds (needs `state`: see [`crate::container::cover`]).
    pub into_containers: Option<PathBuf>,
}

/// Where an attach rule keeps its program pinned, for the watcher.
pub fn prog_pin(pin_root: &Path, name: &str) -> PathBuf {
    // '%' never starts an encoded cgroup name, so this cannot collide.
    pin_root.join(format!("%prog-{name}"))
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The cgroup's path relative to the cgroup root (`""` for the root).
    pub cgroup: String,
    pub cgroup_id: u64,
    pub pin: String,
    pub expose: String,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub cgroup: String,
    pub why: String,
}

#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AttachReport {
    pub cgroups: usize,
    pub made: Vec<Item>,
    pub kept: Vec<Item>,
    pub removed: Vec<Item>,
    pub skipped: Vec<Skipped>,
    /// The id of every cgroup walked (for the watcher's event filter).
    #[serde(skip)]
    pub seen: Vec<u64>,
    /// Views exposed inside containers (`into_containers` rules).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub into: Vec<crate::container::Placed>,
}

/// A view found in the pin tree: where (its directory, encoded, relative to
/// the pin root) and for which cgroup.
struct Existing {
    enc_rel: PathBuf,
    cgroup_id: u64,
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name.contains('.') {
        return Err(Error::invalid(
            "attach",
            format!(
                "Invalid view name \"{name}\": use a plain name without '/' or '.' (bpffs refuses '.')"
            ),
        ));
    }
    Ok(())
}

fn sys_err(what: String, path: &Path, e: sys::SysError) -> Error {
    Error::sys(what, e).with_path(path)
}

/// The cgroup id of the view pinned at `name` in `dir`, if it is a cgroup
/// iterator link (a view bpfx makes).
fn view_at(dir: &Dir, name: &str) -> Option<u64> {
    let fd = dir.obj_get(name).ok()?;
    let i = info::info_of_kind(fd.as_fd(), ObjKind::Link).ok()?;
    let Detail::Link(l) = &i.detail else {
        return None;
    };
    if l.target.get("iter").and_then(|v| v.as_str()) != Some("cgroup") {
        return None;
    }
    l.target.get("cgroupId").and_then(|v| v.as_u64())
}

/// Finds the cgroup iterator links named `name` (or any name) in the pin
/// tree below `start` (encoded, relative to the pin root `root`), walked by
/// handles: no symlink followed, never off the pin root's mount. Keyed by
/// decoded cgroup path and file name.
fn existing_views(
    root: &Dir,
    start: &Path,
    name: Option<&str>,
) -> Result<BTreeMap<PathBuf, Existing>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![start.to_path_buf()];
    while let Some(rel) = stack.pop() {
        let dir = match root.open_rel(&rel, false) {
            Ok(d) => d,
            Err(e) if e.errno() == libc::ENOENT => continue,
            Err(e) => {
                let p = root.path().join(&rel);
                return Err(sys_err(format!("Cannot read {}", q(&p)), &p, e));
            }
        };
        let entries = dir
            .entries()
            .map_err(|e| sys_err(format!("Cannot read {}", q(dir.path())), dir.path(), e))?;
        for entry in entries {
            let file = entry.name;
            if entry.kind == paths::DT_DIR {
                stack.push(rel.join(&file));
                continue;
            }
            if entry.kind != paths::DT_REG
                || name.is_some_and(|n| n != file)
                || pins::is_preload(Path::new(&file))
            {
                continue;
            }
            let Some(cgroup_id) = view_at(&dir, &file) else {
                continue; // not a view bpfx makes: leave it alone
            };
            out.insert(
                decode_rel(&rel).join(&file),
                Existing {
                    enc_rel: rel.clone(),
                    cgroup_id,
                },
            );
        }
    }
    Ok(out)
}

fn item(rel: &Path, id: u64, pin: &Path, expose: &Path) -> Item {
    Item {
        cgroup: rel.display().to_string(),
        cgroup_id: id,
        pin: pin.display().to_string(),
        expose: expose.display().to_string(),
    }
}

/// `rel/sub`, without a trailing slash when `sub` is empty.
fn join_rel(rel: &Path, sub: &Path) -> PathBuf {
    if sub.as_os_str().is_empty() {
        rel.to_path_buf()
    } else {
        rel.join(sub)
    }
}

/// Refuses a path with `..` or `.` components: a root is named plainly, so
/// that what is recorded is what is used.
fn plain(path: &Path, what: &str) -> Result<PathBuf> {
    let path = mounts::absolute(path);
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(Error::invalid(
            "attach",
            format!("Give the {what} {} without '..' or '.'", q(&path)),
        ));
    }
    Ok(path)
}

/// Opens the pin root, on bpffs, making it (in a bpffs directory) when
/// `make` and it is missing. It must be root's: owned by it and, unless
/// sticky, writable by no one else, or others could rearrange its views.
fn open_pin_root(root: &Path, make: bool) -> Result<Option<Dir>> {
    let dir = match Dir::open(root) {
        Ok(d) => d,
        Err(e) if e.errno() == libc::ENOENT && make => {
            let (parent, name) = paths::split(root).ok_or_else(|| {
                Error::invalid("mkdir", format!("Cannot make pin root {}", q(root)))
            })?;
            mounts::require_bpffs_dir(parent, "pin views")?;
            if name.contains('.') {
                return Err(Error::invalid(
                    "mkdir",
                    format!(
                        "Cannot make pin root {}: bpffs refuses '.' in names",
                        q(root)
                    ),
                ));
            }
            let p = Dir::open(parent)
                .map_err(|e| sys_err(format!("Cannot make pin root {}", q(root)), root, e))?;
            match sys::fs::mkdir_at(p.fd(), name, 0o755) {
                Ok(()) => {}
                Err(e) if e.errno() == libc::EEXIST => {}
                Err(e) => {
                    return Err(sys_err(
                        format!("Cannot make pin root {}", q(root)),
                        root,
                        e,
                    ));
                }
            }
            p.open_rel(Path::new(name), false)
                .map_err(|e| sys_err(format!("Cannot open pin root {}", q(root)), root, e))?
        }
        Err(e) if e.errno() == libc::ENOENT => return Ok(None),
        Err(e) => {
            let err = sys_err(format!("Cannot open pin root {}", q(root)), root, e);
            return Err(if err.errno == libc::ELOOP {
                err.with_kind(Kind::Invalid)
                    .with_hint("bpfx follows no symlink in a pin tree: give the real path")
            } else {
                err
            });
        }
    };
    if !dir.magic().is_ok_and(|m| m == mounts::BPF_FS_MAGIC) {
        return Err(Error::new(
            Kind::NotBpffs,
            "fstatfs",
            format!(
                "Cannot pin views at {}: the directory is not on bpffs",
                q(root)
            ),
        )
        .with_path(root)
        .with_hint(mounts::not_bpffs_hint(root)));
    }
    let st = dir
        .stat("")
        .map_err(|e| sys_err(format!("Cannot open pin root {}", q(root)), root, e))?;
    // SAFETY: no arguments.
    let me = unsafe { libc::geteuid() };
    let open_to_others = st.mode & 0o022 != 0 && st.mode & 0o1000 == 0;
    if st.uid != me || open_to_others {
        return Err(Error::new(
            Kind::Permission,
            "statx",
            format!(
                "Cannot use pin root {}: {}",
                q(root),
                if st.uid != me {
                    format!("it belongs to uid {}", st.uid)
                } else {
                    format!("others may write it (mode {:04o})", st.mode & 0o7777)
                }
            ),
        )
        .with_path(root)
        .with_hint("views are root's: give a pin root that root owns and alone writes, or a missing one for bpfx to make"));
    }
    Ok(Some(dir))
}

/// Opens the expose root, making it when `make`. It must not be on bpffs
/// or cgroupfs.
fn open_expose_root(root: &Path, make: bool) -> Result<Option<Dir>> {
    let fail = |e: sys::SysError| {
        let err = sys_err(format!("Cannot open expose root {}", q(root)), root, e);
        if err.errno == libc::ELOOP {
            err.with_kind(Kind::Invalid)
                .with_message(format!(
                    "Cannot use expose root {}: it, or a directory on the way to it, is a symlink",
                    q(root)
                ))
                .with_hint("bpfx follows no symlink in a mirror tree: give the real path")
        } else {
            err
        }
    };
    let dir = match Dir::open(root) {
        Ok(d) => d,
        Err(e) if e.errno() == libc::ENOENT && !make => return Ok(None),
        Err(e) if e.errno() == libc::ENOENT => {
            // Judge it by where it would be made before making it.
            let mut on = root;
            let near = loop {
                match on.parent() {
                    Some(p) => on = p,
                    None => break Dir::open(Path::new("/")).map_err(fail)?,
                }
                match Dir::open(on) {
                    Ok(d) => break d,
                    Err(e) if e.errno() == libc::ENOENT => continue,
                    Err(e) => return Err(fail(e)),
                }
            };
            check_expose_fs(root, &near)?;
            Dir::make_all(root, 0o755).map_err(fail)?
        }
        Err(e) => return Err(fail(e)),
    };
    check_expose_fs(root, &dir)?;
    Ok(Some(dir))
}

fn check_expose_fs(root: &Path, on: &Dir) -> Result<()> {
    match on.magic() {
        Ok(mounts::BPF_FS_MAGIC) => Err(Error::invalid(
            "attach",
            format!(
                "The expose root {} is on bpffs: give a directory on another filesystem",
                q(root)
            ),
        )),
        Ok(mounts::CGROUP2_SUPER_MAGIC) => Err(Error::invalid(
            "attach",
            format!(
                "The expose root {} is on cgroupfs, which takes no files: give another directory",
                q(root)
            ),
        )
        .with_hint("use a directory such as /run/bpfx/views; bpfx mirrors the cgroup tree there")),
        _ => Ok(()),
    }
}

/// Makes, keeps and removes views so that every cgroup of the subtree has
/// exactly one, pinned and exposed. Running it again changes nothing. With
/// a state directory, its lock is held throughout, so that attach, detach
/// and the watcher never work on one tree at once.
pub fn attach(o: &AttachOptions) -> Result<AttachReport> {
    check_name(&o.name)?;
    let top = cgroups::resolve(&o.cgroup_root)?;
    let top_path = top
        .path
        .ok_or_else(|| Error::invalid("attach", "Give the cgroup root as a path, not an id"))?;
    // Rules store canonical paths: a root given through a symlink or `..`
    // is recorded (and matched against events) as what it resolves to.
    let top_path = std::fs::canonicalize(&top_path).map_err(|e| {
        Error::io(
            format!("Cannot use cgroup {}", q(&top_path)),
            "realpath",
            &e,
        )
        .with_path(&top_path)
    })?;
    cgroups::resolve(&top_path.to_string_lossy())?;
    let pin_root = plain(&o.pin_root, "pin root")?;
    let expose_root = plain(&o.expose_root, "expose root")?;
    if let Some(p) = &o.into_containers {
        crate::container::check_rule_path(p, o.state.is_some())?;
    }
    let state = match &o.state {
        Some(s) => Some(manifest::State::open(s, true)?.expect("made")),
        None => None,
    };
    let lock = state.as_ref().map(|s| s.lock()).transpose()?;
    // Check the roots before anything is made.
    if Dir::open(&pin_root).is_err() {
        let parent = pin_root.parent().unwrap_or(Path::new("/"));
        mounts::require_bpffs_dir(parent, "pin views")?;
    }
    open_expose_root(&expose_root, false)?;
    {
        let mut on = expose_root.as_path();
        while let Err(e) = Dir::open(on) {
            if e.errno() != libc::ENOENT {
                break;
            }
            on = on.parent().unwrap_or(Path::new("/"));
        }
        if let Ok(d) = Dir::open(on) {
            check_expose_fs(&expose_root, &d)?;
        }
    }

    let (prog, target) = views::open_prog(&o.prog, o.pin_by_name_root.as_deref())?;
    if target != "cgroup" {
        return Err(Error::invalid(
            "attach",
            format!(
                "attach needs a cgroup iterator program, but {} iterates \"{target}\"",
                o.prog
            ),
        )
        .with_hint("use a program from a SEC(\"iter/cgroup\") section"));
    }
    let tree = Tree {
        pin_root,
        expose_root,
        name: o.name.clone(),
    };
    let report = tree.reconcile(prog.fd()?, &top_path)?;
    if let (Some(state), Some(lock)) = (&state, &lock) {
        let prog_path = match &prog {
            views::IterProg::Pinned { .. } => mounts::absolute(Path::new(&o.prog)),
            views::IterProg::Loaded { .. } => {
                let p = prog_pin(&tree.pin_root, &tree.name);
                let root = open_pin_root(&tree.pin_root, true)?.expect("made");
                let file = p.file_name().and_then(|n| n.to_str()).expect("named");
                if view_at(&root, file).is_none() {
                    let _ = root.unlink(file);
                }
                root.pin(prog.fd()?, file)
                    .map_err(|e| sys_err(format!("Cannot pin the program at {}", q(&p)), &p, e))?;
                p
            }
        };
        let rule = Rule {
            prog: prog_path,
            cgroup_root: top_path.clone(),
            pin_root: tree.pin_root.clone(),
            expose_root: tree.expose_root.clone(),
            name: tree.name.clone(),
            into_containers: o.into_containers.clone(),
        };
        state.update(lock, |m| {
            m.rules
                .retain(|r| !(r.pin_root == rule.pin_root && r.name == rule.name));
            m.rules.push(rule.clone());
            Ok(())
        })?;
        let mut report = report;
        crate::container::cover(state, lock, &rule, &mut report);
        return Ok(report);
    }
    Ok(report)
}

/// The two trees of one attach: views pinned under `pin_root`, exposed
/// under `expose_root`, each file named `name`.
pub struct Tree {
    pub pin_root: PathBuf,
    pub expose_root: PathBuf,
    pub name: String,
}

/// A tree's roots, open for one operation.
struct Roots {
    pin: Dir,
    expose: Dir,
}

impl Tree {
    fn pin(&self, rel: &Path) -> PathBuf {
        self.pin_root.join(encode_rel(rel)).join(&self.name)
    }

    fn expose(&self, rel: &Path) -> PathBuf {
        self.expose_root.join(rel).join(&self.name)
    }

    fn roots(&self) -> Result<Roots> {
        Ok(Roots {
            pin: open_pin_root(&self.pin_root, true)?.expect("made"),
            expose: open_expose_root(&self.expose_root, true)?.expect("made"),
        })
    }

    /// Removes the mirror symlinks named `name` that point into the pin
    /// root at nothing (left by a crash); returns their cgroups.
    fn sweep_dangling(&self, roots: &Roots, report: &mut AttachReport) {
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let Ok(dir) = roots.expose.open_rel(&rel, false) else {
                continue;
            };
            let Ok(entries) = dir.entries() else { continue };
            for entry in entries {
                if entry.kind == paths::DT_DIR {
                    stack.push(rel.join(&entry.name));
                    continue;
                }
                if entry.kind != paths::DT_LNK || entry.name != self.name {
                    continue;
                }
                let Ok(target) = dir.readlink(&entry.name) else {
                    continue;
                };
                let Ok(in_pins) = target.strip_prefix(&self.pin_root) else {
                    continue;
                };
                let dangling = match in_pins.parent().map(|p| roots.pin.open_rel(p, false)) {
                    Some(Ok(d)) => in_pins
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| d.stat(n).is_err()),
                    Some(Err(e)) => e.errno() == libc::ENOENT,
                    None => false,
                };
                if dangling && dir.unlink(&entry.name).is_ok() {
                    roots.expose.prune(&rel, false);
                    report
                        .removed
                        .push(item(&rel, 0, &target, &self.expose(&rel)));
                }
            }
        }
    }

    /// Brings the whole subtree at `top` to truth: a view for every cgroup,
    /// none for cgroups that are gone. A cgroup that cannot get a view is
    /// skipped and named in the report; the rest is done.
    pub fn reconcile(&self, prog: BorrowedFd<'_>, top: &Path) -> Result<AttachReport> {
        let cgroups::Walk { cgroups, vanished } = cgroups::walk(top)?;
        let roots = self.roots()?;
        let mut report = AttachReport {
            cgroups: cgroups.len(),
            ..Default::default()
        };
        for v in vanished {
            report.skipped.push(Skipped {
                cgroup: v.display().to_string(),
                why: "the cgroup was removed during the walk".into(),
            });
        }
        self.sweep_dangling(&roots, &mut report);
        let mut existing = existing_views(&roots.pin, Path::new(""), Some(&self.name))?;
        let total = cgroups.len() as u64;
        progress(0, total);
        for (done, (rel, id)) in cgroups.iter().enumerate() {
            report.seen.push(*id);
            let old = existing.remove(&rel.join(&self.name));
            self.sync_one(&roots, prog, rel, *id, old, &mut report);
            progress(done as u64 + 1, total);
        }
        // What is left belongs to cgroups that are gone.
        for (key, old) in existing {
            let rel = key.parent().unwrap_or(Path::new("")).to_path_buf();
            self.remove_one(&roots, &rel, &old, &mut report)?;
        }
        progress(total, total);
        Ok(report)
    }

    /// Makes the views of a cgroup subtree that just appeared at `rel`
    /// (below `top`), keeping any that exist.
    pub fn appeared(&self, prog: BorrowedFd<'_>, top: &Path, rel: &Path) -> Result<AttachReport> {
        let mut report = AttachReport::default();
        let cgroups::Walk { cgroups, .. } = match cgroups::walk(&top.join(rel)) {
            Ok(w) => w,
            Err(e) if e.kind == Kind::NotFound => return Ok(report), // gone again
            Err(e) => return Err(e),
        };
        let roots = self.roots()?;
        let mut existing = existing_views(&roots.pin, &encode_rel(rel), Some(&self.name))?;
        report.cgroups = cgroups.len();
        for (sub, id) in cgroups {
            report.seen.push(id);
            let old = existing.remove(&join_rel(rel, &sub).join(&self.name));
            self.sync_one(&roots, prog, &join_rel(rel, &sub), id, old, &mut report);
        }
        Ok(report)
    }

    /// Removes the views of the cgroup at `rel` and of any below it (`rel`
    /// empty: the whole tree, root view included).
    pub fn vanished(&self, rel: &Path) -> Result<AttachReport> {
        let mut report = AttachReport::default();
        let Some(pin) = open_pin_root(&self.pin_root, false)? else {
            return Ok(report);
        };
        let Some(expose) = open_expose_root(&self.expose_root, false)? else {
            return Ok(report);
        };
        let roots = Roots { pin, expose };
        for (key, old) in existing_views(&roots.pin, &encode_rel(rel), Some(&self.name))? {
            let sub = key.parent().unwrap_or(Path::new("")).to_path_buf();
            self.remove_one(&roots, &sub, &old, &mut report)?;
        }
        Ok(report)
    }

    fn remove_one(
        &self,
        roots: &Roots,
        rel: &Path,
        old: &Existing,
        report: &mut AttachReport,
    ) -> Result<()> {
        let pin = self.pin(rel);
        let expose = self.expose(rel);
        remove_view(roots, rel, old, &self.name, &pin)?;
        report.removed.push(item(rel, old.cgroup_id, &pin, &expose));
        Ok(())
    }

    /// Keeps, replaces or makes the view of one cgroup; what fails is
    /// skipped and reported.
    fn sync_one(
        &self,
        roots: &Roots,
        prog: BorrowedFd<'_>,
        rel: &Path,
        id: u64,
        old: Option<Existing>,
        report: &mut AttachReport,
    ) {
        if let Err(e) = self.try_sync_one(roots, prog, rel, id, old, report) {
            report.skipped.push(Skipped {
                cgroup: rel.display().to_string(),
                why: e.message.clone(),
            });
        }
    }

    fn try_sync_one(
        &self,
        roots: &Roots,
        prog: BorrowedFd<'_>,
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
                cgroup: rel.display().to_string(),
                why: format!("{} exists and is not bpfx's: left alone", q(&expose)),
            })
        };
        let mkdirs = |root: &Dir, rel: &Path, shown: &Path| {
            root.make_rel(rel, 0o755, false).map_err(|e| {
                let d = shown.parent().unwrap_or(shown);
                sys_err(format!("Cannot make directory {}", q(d)), d, e)
            })
        };
        let exp_dir = roots.expose.open_rel(rel, false).ok();
        let there = |d: &Option<Dir>| d.as_ref().is_some_and(|d| d.stat(name).is_ok());
        let ours = |d: &Option<Dir>| d.as_ref().is_some_and(|d| d.links_to(name, &pin));
        if let Some(old) = old {
            if old.cgroup_id == id {
                if !ours(&exp_dir) {
                    if there(&exp_dir) {
                        not_ours(report);
                        return Ok(());
                    }
                    mkdirs(&roots.expose, rel, &expose)?
                        .symlink(&pin, name)
                        .map_err(|e| {
                            sys_err(format!("Cannot expose {}", q(&expose)), &expose, e)
                        })?;
                }
                report.kept.push(item(rel, id, &pin, &expose));
                return Ok(());
            }
            // The cgroup was removed and made again: its old view is stale.
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
        let params = sys::IterParams::Cgroup {
            order: 1,
            cgroup_fd: 0,
            cgroup_id: id,
        };
        let link = match views::make_link(prog, "cgroup", params) {
            Ok(l) => l,
            Err(e) if e.kind == Kind::NotFound => {
                report.skipped.push(Skipped {
                    cgroup: rel.display().to_string(),
                    why: "the cgroup was removed before its view was made".into(),
                });
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let pin_dir = mkdirs(&roots.pin, &encode_rel(rel), &pin)?;
        pin_dir.pin(link.as_fd(), name).map_err(|e| {
            let err = sys_err(format!("Cannot pin the view at {}", q(&pin)), &pin, e);
            if err.kind == Kind::Exists {
                err.with_message(format!(
                    "Cannot pin the view at {}: something else has that name (a child cgroup named like the view?)",
                    q(&pin)
                ))
            } else {
                err
            }
        })?;
        let made = mkdirs(&roots.expose, rel, &expose).and_then(|d| {
            d.symlink(&pin, name)
                .map_err(|e| sys_err(format!("Cannot expose {}", q(&expose)), &expose, e))
        });
        if let Err(e) = made {
            let _ = pin_dir.unlink(name);
            roots.pin.prune(&encode_rel(rel), false);
            return Err(e);
        }
        report.made.push(item(rel, id, &pin, &expose));
        Ok(())
    }
}

/// Removes one view and its mirror symlink, if the symlink is bpfx's. The
/// symlink goes first: a crash between the two leaves a pin, which the next
/// reconcile finds, rather than a symlink to nothing. The pin is checked
/// again right before it goes: still a view of the same cgroup.
fn remove_view(roots: &Roots, rel: &Path, old: &Existing, name: &str, pin: &Path) -> Result<()> {
    if let Ok(d) = roots.expose.open_rel(rel, false)
        && d.links_to(name, pin)
    {
        d.unlink(name).map_err(|e| {
            let p = d.path().join(name);
            sys_err(format!("Cannot remove {}", q(&p)), &p, e)
        })?;
        roots.expose.prune(rel, false);
    }
    let d = match roots.pin.open_rel(&old.enc_rel, false) {
        Ok(d) => d,
        Err(e) if e.errno() == libc::ENOENT => return Ok(()),
        Err(e) => return Err(sys_err(format!("Cannot unpin {}", q(pin)), pin, e)),
    };
    if view_at(&d, name) == Some(old.cgroup_id) {
        match d.unlink(name) {
            Ok(()) => {}
            Err(e) if e.errno() == libc::ENOENT => {}
            Err(e) => return Err(sys_err(format!("Cannot unpin {}", q(pin)), pin, e)),
        }
    }
    roots.pin.prune(&old.enc_rel, false);
    Ok(())
}

#[derive(Debug, Serialize, Default)]
pub struct DetachReport {
    pub removed: Vec<Item>,
}

/// Removes every view below `pin_root` (named `name`, or any) and the
/// mirror symlinks that point at them, and forgets the matching attach rules
/// in `state`. Touches nothing else. With a state directory, its lock is
/// held throughout: the watcher makes no view of a rule while it goes, and
/// none is left when this returns.
pub fn detach(
    pin_root: &Path,
    expose_root: &Path,
    name: Option<&str>,
    state: Option<&Path>,
) -> Result<DetachReport> {
    let pin_root = plain(pin_root, "pin root")?;
    let expose_root = plain(expose_root, "expose root")?;
    let state = match state {
        Some(s) => Some(manifest::State::open(s, true)?.expect("made")),
        None => None,
    };
    let lock = state.as_ref().map(|s| s.lock()).transpose()?;
    let pins = open_pin_root(&pin_root, false)?;
    if let (Some(state), Some(lock)) = (&state, &lock) {
        let gone = state.update(lock, |m| {
            let (gone, kept): (Vec<Rule>, Vec<Rule>) = m
                .rules
                .drain(..)
                .partition(|r| r.pin_root == pin_root && name.is_none_or(|n| r.name == n));
            m.rules = kept;
            Ok(gone)
        })?;
        crate::container::uncover(state, lock, &pin_root, name);
        for r in gone {
            let p = prog_pin(&r.pin_root, &r.name);
            if let (true, Some(root), Some(file)) =
                (r.prog == p, &pins, p.file_name().and_then(|n| n.to_str()))
            {
                let _ = root.unlink(file);
            }
        }
    }
    let Some(pins) = pins else {
        return Ok(DetachReport::default());
    };
    let expose = match open_expose_root(&expose_root, false)? {
        Some(d) => d,
        // No mirror: the pins still go.
        None => pins
            .open_rel(Path::new(""), false)
            .map_err(|e| sys_err(format!("Cannot open {}", q(&pin_root)), &pin_root, e))?,
    };
    let roots = Roots { pin: pins, expose };
    let existing = existing_views(&roots.pin, Path::new(""), name)?;
    let total = existing.len() as u64;
    progress(0, total);
    let mut report = DetachReport::default();
    for (done, (key, old)) in existing.into_iter().enumerate() {
        let rel = key.parent().unwrap_or(Path::new("")).to_path_buf();
        let file = key.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let pin = pin_root.join(&old.enc_rel).join(file);
        let exposed = expose_root.join(&key);
        remove_view(&roots, &rel, &old, file, &pin)?;
        report
            .removed
            .push(item(&rel, old.cgroup_id, &pin, &exposed));
        progress(done as u64 + 1, total);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_encode_reversibly() {
        for n in ["plain", "a.b", "100%", "x.%2E.y", "%2E"] {
            let e = encode(n);
            assert!(!e.contains('.'), "{e}");
            assert_eq!(decode(&e), n);
        }
        assert_eq!(encode("app.slice"), "app%2Eslice");
        assert_eq!(
            decode_rel(&encode_rel(Path::new("a.slice/b.scope"))),
            PathBuf::from("a.slice/b.scope")
        );
    }

    #[test]
    fn view_names_are_checked() {
        assert!(check_name("stat").is_ok());
        assert!(check_name("a.b").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }
}
