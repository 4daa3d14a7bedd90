//! Exposures with the state directory: each is made under the one lock and
//! recorded in the manifest, so that the watcher can remove it when its pin
//! goes; nothing is left half-made when the record cannot be written. On
//! the host, and inside containers (one exposure, or each view of an attach
//! rule's cgroups that hold one).

use crate::attach::mirror::{AttachReport, Skipped};
use crate::attach::rule::Rule;
use crate::error::{Error, Kind, Result, q};
use crate::expose::container::{self, Into, Outcome};
use crate::expose::exposure::{Exposure, Mode, MountRecord};
use crate::expose::place::{Removal, exists_error};
use crate::expose::{self, host};
use crate::fs::mounts;
use crate::state::manifest::{self, Lock, State};
use serde::Serialize;
use std::path::Path;

/// Puts the object pinned at `pin` at `path`, and records it in `state`.
/// With `parents`, makes the missing directories of `path` first, and
/// removes them again when the exposure cannot be made or recorded.
pub fn expose(
    state: &Path,
    pin: &Path,
    path: &Path,
    mode: Mode,
    parents: bool,
) -> Result<Exposure> {
    let prepared = host::prepare(pin, path, mode, parents)?;
    let mut exposure = prepared.exposure.clone();
    let made = (|| {
        let state = State::open(state, true)?.expect("made");
        let lock = state.lock()?;
        record(&state, &lock, &mut exposure, |x| prepared.make(x))
    })();
    match made {
        Ok(()) => Ok(exposure),
        Err(e) => {
            prepared.undo();
            Err(e)
        }
    }
}

/// Puts the object pinned at `pin` at `path` inside the mount namespace of
/// process `into`, as a read-only bind mount, and records it in `state`.
pub fn expose_into(
    state: &Path,
    pin: &Path,
    path: &Path,
    into: Into,
    parents: bool,
) -> Result<Exposure> {
    let prepared = container::prepare_into(pin, path, into, parents)?;
    let mut x = prepared.exposure.clone();
    let st = State::open(state, true)?.expect("made");
    let lock = st.lock()?;
    record(&st, &lock, &mut x, |x| prepared.make(x).map(Some))?;
    Ok(x)
}

/// Records `x` in `st`, made by `make` under the lock `lock`; refuses a
/// place where an exposure is recorded already, and leaves nothing
/// half-made when the record cannot be written.
fn record(
    st: &State,
    lock: &Lock,
    x: &mut Exposure,
    make: impl FnOnce(&Exposure) -> Result<Option<MountRecord>>,
) -> Result<()> {
    let mut made = false;
    let recorded = st.update(lock, |m| {
        if m.exposures.iter().any(|e| e.same_place(x)) {
            return Err(recorded_there(x));
        }
        x.mount = make(x)?;
        made = true;
        m.exposures.push(x.clone());
        Ok(())
    });
    if let Err(e) = recorded {
        // `make` undoes itself when it fails; if the manifest could not be
        // written after it, the exposure goes too: nothing half-made.
        if made {
            let _ = expose::remove(x);
        }
        return Err(e);
    }
    Ok(())
}

/// The error of a place where an exposure is recorded already.
fn recorded_there(x: &Exposure) -> Error {
    match x.into {
        None => exists_error(&x.path),
        Some(n) => exists_error(&x.path).with_message(format!(
            "Cannot expose at {}: an exposure is recorded there",
            container::in_container(&x.path, n.pid)
        )),
    }
}

/// At attach: exposes each view of `report` (made or kept) inside the
/// container its cgroup holds, recording each in `st`; what fails is
/// reported as skipped. The watcher does the same as containers come.
pub fn cover(st: &State, lock: &Lock, rule: &Rule, report: &mut AttachReport) {
    let rels: Vec<std::path::PathBuf> = report
        .made
        .iter()
        .chain(&report.kept)
        .chain(&report.moved)
        .map(|i| i.cgroup.clone())
        .collect();
    for rel in rels {
        let have = st.read().map(|m| m.exposures).unwrap_or_default();
        let mut make = |x: &mut Exposure, mk: &dyn Fn(&Exposure) -> Result<MountRecord>| {
            record(st, lock, x, |x| mk(x).map(Some))
        };
        match container::check_one(rule, &rel, false, &have, &mut make) {
            Outcome::Made(made) => report.into.push(made.1),
            Outcome::Failed(cgroup, e) => report.skipped.push(Skipped {
                cgroup: cgroup.into(),
                why: e.message.clone(),
            }),
            Outcome::Done | Outcome::Later => {}
        }
    }
}

/// At detach: removes and forgets the exposures inside containers of the
/// views under `pin_root` (named `name`, or any).
pub fn uncover(st: &State, lock: &Lock, pin_root: &Path, name: Option<&str>) {
    let ours = |x: &Exposure| {
        x.into.is_some()
            && x.pin.starts_with(pin_root)
            && name.is_none_or(|n| x.pin.file_name().is_some_and(|f| f == n))
    };
    let _ = st.update(lock, |m| {
        let (gone, kept): (Vec<Exposure>, Vec<Exposure>) =
            m.exposures.drain(..).partition(|x| ours(x));
        m.exposures = kept;
        for x in &gone {
            let _ = expose::remove(x);
        }
        Ok(())
    });
}

/// What `unexpose` did: the exposure forgotten, and why anything at its
/// path was left alone.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unexposed {
    #[serde(flatten)]
    pub exposure: Exposure,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_alone: Option<String>,
}

/// Removes the exposure at `path` and forgets it: on the host, or with
/// `into` inside the container of that PID, as recorded.
pub fn unexpose(state: &Path, path: &Path, into: Option<u32>) -> Result<Unexposed> {
    let path = match into {
        None => mounts::absolute(path),
        Some(_) => path.to_path_buf(),
    };
    let there = |x: &Exposure| match into {
        None => x.into.is_none(),
        Some(pid) => x.into.is_some_and(|n| n.pid == pid),
    };
    manifest::update(state, |m| {
        let i = m
            .exposures
            .iter()
            .position(|x| x.path == path && there(x))
            .ok_or_else(|| {
                let at = match into {
                    None => q(&path),
                    Some(pid) => container::in_container(&path, pid),
                };
                Error::new(
                    Kind::NotFound,
                    "unexpose",
                    format!("No exposure at {at} in state directory {}", q(state)),
                )
                .with_path(&path)
                .with_hint("`bpfx exposures` lists them")
            })?;
        let x = m.exposures.remove(i);
        let left_alone = match expose::remove(&x)? {
            Removal::NotOurs(why) => Some(why),
            _ => None,
        };
        Ok(Unexposed {
            exposure: x,
            left_alone,
        })
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposureState {
    #[serde(flatten)]
    pub exposure: Exposure,
    /// `ok`, `pin-gone` (the pin was removed or now holds another object),
    /// `path-gone` (the exposure's file was removed), `unmounted`,
    /// `moved` (a bind exposure's mount is elsewhere: its directory moved),
    /// or `ns-gone` (the container's process it was made through is gone).
    pub state: &'static str,
}

/// Every exposure recorded in `state`, with its state.
pub fn list(state: &Path) -> Result<Vec<ExposureState>> {
    let mut cache = expose::PinCache::default();
    Ok(manifest::read(state)?
        .exposures
        .into_iter()
        .map(|x| ExposureState {
            state: expose::state_with(&x, &mut cache),
            exposure: x,
        })
        .collect())
}
