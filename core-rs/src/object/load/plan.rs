//! Where a load pins each program and map, planned before anything is made:
//! the names bpffs takes, one path per program and map, and the pin
//! directories still to make.

use super::Renamed;
use crate::error::{Error, Kind, Result, q};
use crate::fs::mounts;
use crate::object::spec::{MapSpec, ProgramSpec};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The name bpffs can take for `name`: each `.` becomes `_`.
pub fn bpffs_name(name: &str) -> String {
    name.replace('.', "_")
}

/// The planned pin path of each program and map.
pub(super) struct Plan {
    pub(super) programs: BTreeMap<String, PathBuf>,
    pub(super) maps: BTreeMap<String, PathBuf>,
    pub(super) by_name: BTreeMap<String, PathBuf>,
    pub(super) renamed: Vec<Renamed>,
    pub(super) new_dirs: Vec<PathBuf>,
}

pub(super) fn plan(
    program_specs: &[&ProgramSpec],
    map_specs: &[&MapSpec],
    pin_dir: &Path,
    by_name_root: &Path,
) -> Result<Plan> {
    let mut renamed = Vec::new();
    let mut taken: HashSet<PathBuf> = HashSet::new();
    let mut place = |what: &str, name: &str, dir: &Path| -> Result<PathBuf> {
        let fixed = bpffs_name(name);
        let path = dir.join(&fixed);
        if fixed != name {
            renamed.push(Renamed {
                from: name.to_string(),
                to: path.display().to_string(),
                why: "bpffs refuses '.' in names: each '.' became '_'".into(),
            });
        }
        if !taken.insert(path.clone()) {
            return Err(Error::new(
                Kind::Exists,
                "plan",
                format!("Cannot pin {what} \"{name}\" at {}: another program or map of the object is pinned there", q(&path)),
            )
            .with_path(&path));
        }
        Ok(path)
    };
    let maps_dir = pin_dir.join("maps");
    let mut maps = BTreeMap::new();
    let mut by_name = BTreeMap::new();
    for m in map_specs {
        if m.pinning == "by-name" {
            if m.name.contains('.') {
                return Err(Error::invalid(
                    "plan",
                    format!(
                        "Cannot pin map \"{}\" by name: bpffs refuses '.' in names",
                        m.name
                    ),
                ));
            }
            by_name.insert(m.name.clone(), by_name_root.join(&m.name));
        } else {
            maps.insert(m.name.clone(), place("map", &m.name, &maps_dir)?);
        }
    }
    let mut programs = BTreeMap::new();
    for p in program_specs {
        let path = place("program", &p.name, pin_dir)?;
        if !maps.is_empty() && path == maps_dir {
            return Err(Error::new(
                Kind::Exists,
                "plan",
                format!(
                    "Cannot pin program \"{}\" at {}: bpfx keeps the object's maps there",
                    p.name,
                    q(&path)
                ),
            ));
        }
        programs.insert(p.name.clone(), path);
    }
    let new_dirs = missing_dirs(pin_dir)?;
    Ok(Plan {
        programs,
        maps,
        by_name,
        renamed,
        new_dirs,
    })
}

/// The directories of `pin_dir` that must be made, outermost first. The
/// deepest existing one must be a directory on bpffs, and no new name may
/// hold a `.`.
fn missing_dirs(pin_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut cur = pin_dir.to_path_buf();
    while crate::fs::paths::lstat(&cur).is_err() {
        missing.push(cur.clone());
        match cur.parent() {
            Some(p) => cur = p.to_path_buf(),
            None => break,
        }
    }
    mounts::require_bpffs_dir(&cur, "pin").map_err(|e| {
        if e.kind == Kind::NotBpffs && cur != pin_dir {
            e.with_message(format!(
                "Cannot pin at {}: {} is not on bpffs",
                q(pin_dir),
                q(&cur)
            ))
        } else {
            e
        }
    })?;
    missing.reverse();
    for d in &missing {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.contains('.') {
            return Err(Error::invalid(
                "mkdir",
                format!(
                    "Cannot make pin directory {}: bpffs refuses '.' in names",
                    q(d)
                ),
            )
            .with_path(d)
            .with_hint("choose a directory name without '.'"));
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpffs_name_replaces_dots() {
        assert_eq!(bpffs_name(".rodata"), "_rodata");
        assert_eq!(bpffs_name("a.b.c"), "a_b_c");
        assert_eq!(bpffs_name("plain"), "plain");
    }
}
