//! `detach`: every view and cgroup link below a pin root removed with the
//! mirror's symlinks to them, and with a `Keeper` the matching rules
//! forgotten, under its lock.

use super::Keeper;
use super::existing::{Want, existing_views};
use super::names::prog_pin;
use super::report::{DetachReport, item, progress};
use super::roots::{Roots, open_expose_root, open_pin_root, plain};
use super::sync::remove_view;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

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
    let report = match &pins {
        Some(pins) => remove_all(&pin_root, pins, expose_root.as_deref(), name)?,
        None => DetachReport::default(),
    };
    // The rules are forgotten only once what they made is gone, so that a
    // failure leaves them recorded, their pins owned, and detach to retry.
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
    Ok(report)
}

/// Removes every view and link below `pins` (named `name`, or any) and its
/// mirror symlink, going on past each one that fails; refuses, naming each
/// failure, when any did.
fn remove_all(
    pin_root: &Path,
    pins: &crate::fs::paths::Dir,
    expose_root: Option<&Path>,
    name: Option<&str>,
) -> Result<DetachReport> {
    let expose = match expose_root {
        Some(e) => open_expose_root(e, false)?,
        None => None,
    };
    let pins = pins.open_rel(Path::new(""), false).map_err(|e| {
        super::sys_err(
            format!("Cannot open {}", crate::error::q(pin_root)),
            pin_root,
            e,
        )
    })?;
    let roots = Roots::new(pins, expose, None);
    let existing = existing_views(&roots.pin, Path::new(""), name, Want::Any)?;
    let total = existing.len() as u64;
    progress(0, total);
    let mut report = DetachReport::default();
    let mut failed = Vec::new();
    for (done, (key, old)) in existing.into_iter().enumerate() {
        let rel = key.parent().unwrap_or(Path::new("")).to_path_buf();
        let file = key.file_name().unwrap_or_default();
        let pin = pin_root.join(&old.enc_rel).join(file);
        let exposed = expose_root.map_or_else(PathBuf::new, |e| e.join(&key));
        match remove_view(&roots, &rel, &old, file, &pin) {
            Ok(()) => {
                let link = old.held.attach.map(|_| old.held.link_id);
                report
                    .removed
                    .push(item(&rel, old.cgroup_id, &pin, &exposed).link(link));
            }
            Err(e) => failed.push(e.message.clone()),
        }
        progress(done as u64 + 1, total);
    }
    if failed.is_empty() {
        return Ok(report);
    }
    Err(Error::invalid(
        "detach",
        format!(
            "Cannot detach {}: {} of {total} views or links could not be removed, and the rules are kept so that detach can be run again ({} removed): {}",
            crate::error::q(pin_root),
            failed.len(),
            report.removed.len(),
            failed.join("; ")
        ),
    ))
}
