//! Attach rules with a state directory: attach and detach as the mirror
//! makes them, with the rule recorded in the manifest, its failures in the
//! attach status, and its views exposed into containers, all under the one
//! lock.

use crate::attach::mirror::{self, AttachOptions, AttachReport, DetachReport, Keeper, Tree};
use crate::attach::rule::Rule;
use crate::error::{Error, Result};
use crate::state::manifest::{Lock, State};
use crate::state::{exposures, status};
use std::path::{Path, PathBuf};

/// The state directory an attach or detach records in, opened (and made)
/// when the mirror asks for its lock.
struct Recorder {
    dir: PathBuf,
    held: Option<(State, Lock)>,
}

impl Recorder {
    fn new(dir: &Path) -> Recorder {
        Recorder {
            dir: dir.to_path_buf(),
            held: None,
        }
    }

    fn held(&self) -> Result<(&State, &Lock)> {
        self.held
            .as_ref()
            .map(|(s, l)| (s, l))
            .ok_or_else(|| Error::internal("the state directory's lock is not held"))
    }
}

impl Keeper for Recorder {
    fn lock(&mut self) -> Result<()> {
        let state = State::open(&self.dir, true)?.expect("made");
        let lock = state.lock()?;
        self.held = Some((state, lock));
        Ok(())
    }

    fn keep(&mut self, rule: &Rule, tree: &Tree, report: &mut AttachReport) -> Result<()> {
        let (state, lock) = self.held()?;
        state.update(lock, |m| {
            m.rules
                .retain(|r| !(r.pin_root == rule.pin_root && r.name == rule.name));
            m.rules.push(rule.clone());
            Ok(())
        })?;
        status::record(state, lock, tree, report, None)?;
        exposures::cover(state, lock, rule, report);
        Ok(())
    }

    fn forget(&mut self, pin_root: &Path, name: Option<&str>) -> Result<Vec<Rule>> {
        let (state, lock) = self.held()?;
        let gone = state.update(lock, |m| {
            let (gone, kept): (Vec<Rule>, Vec<Rule>) = m
                .rules
                .drain(..)
                .partition(|r| r.pin_root == pin_root && name.is_none_or(|n| r.name == n));
            m.rules = kept;
            Ok(gone)
        })?;
        exposures::uncover(state, lock, pin_root, name);
        Ok(gone)
    }

    fn forgotten(&mut self, gone: &[Rule]) -> Result<()> {
        let (state, lock) = self.held()?;
        status::forget(state, lock, gone)
    }
}

/// [`mirror::attach`], recorded as a rule when `o.state` names a state
/// directory.
pub fn attach(o: &AttachOptions) -> Result<AttachReport> {
    match &o.state {
        Some(dir) => mirror::attach(o, Some(&mut Recorder::new(dir))),
        None => mirror::attach(o, None),
    }
}

/// [`mirror::detach`], forgetting the rules it removes in `state`.
pub fn detach(
    pin_root: &Path,
    expose_root: Option<&Path>,
    name: Option<&str>,
    state: Option<&Path>,
) -> Result<DetachReport> {
    match state {
        Some(dir) => mirror::detach(pin_root, expose_root, name, Some(&mut Recorder::new(dir))),
        None => mirror::detach(pin_root, expose_root, name, None),
    }
}
