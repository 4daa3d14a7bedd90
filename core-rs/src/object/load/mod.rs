//! Loading an object and pinning all of it, or none of it.
//!
//! Layout (the same for every object): each program at `<pin dir>/<name>`,
//! each map at `<pin dir>/maps/<name>`, and each `LIBBPF_PIN_BY_NAME` map at
//! `<pin-by-name root>/<name>` (default `/sys/fs/bpf`, as libbpf), reused when
//! a compatible map is pinned there already. bpffs refuses `.` in names, so
//! each `.` in a program or map name becomes `_` (`.rodata` is pinned as
//! `_rodata`) and the report lists every such rename. Directories the user
//! names are never renamed: a `.` there is refused.
//!
//! This file holds what a load is asked and what it reports, and `load`,
//! the one step from the object to its pins. Its parts:
//! - `choose`: which programs a load takes;
//! - `plan`: where each program and map is pinned, and the pin directories
//!   to make, before anything is made;
//! - `reuse`: whether a by-name map pinned already is the object's;
//! - `program`: loading one program through aya, and the kernel's BTF;
//! - `undo`: what the load makes in bpffs, removed again unless it completes;
//! - `errors`: aya's errors turned into ours, and a pin name in use.

mod choose;
mod errors;
mod plan;
mod program;
mod reuse;
mod undo;

pub use choose::choose;
pub use errors::aya_error;
use errors::{in_use, pin_error};
pub use plan::bpffs_name;
use plan::plan;
pub use program::kernel_btf;
pub(crate) use program::load_program;
use reuse::check_compatible;
use undo::{Undo, at, make_pin_dir};

use crate::error::{Error, Kind, Result, q};
use crate::fs::mounts::{self, BPF_FS_MAGIC};
use crate::kernel::info::ObjKind;
use crate::object::sections::Handling;
use crate::object::spec::{self, MapSpec, ProgramSpec};
use crate::{kernel::pins, sys};
use aya::EbpfLoader;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

pub struct LoadOptions {
    pub path: PathBuf,
    pub pin_dir: PathBuf,
    pub pin_by_name_root: Option<PathBuf>,
    /// Load only these programs (and the maps they use); `?` programs too.
    pub only: Option<Vec<String>>,
    /// The largest object file to read, in bytes (default
    /// [`spec::DEFAULT_MAX_OBJECT_SIZE`]).
    pub max_object_size: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct PinnedProgram {
    pub name: String,
    pub path: String,
    pub id: u32,
    #[serde(rename = "type")]
    pub type_name: String,
    pub tag: String,
}

#[derive(Debug, Serialize)]
pub struct PinnedMap {
    pub name: String,
    pub path: String,
    pub id: u32,
    #[serde(rename = "type")]
    pub type_name: String,
    pub pinning: &'static str,
    /// A by-name map that was pinned already and is now shared.
    pub reused: bool,
}

#[derive(Debug, Serialize)]
pub struct Renamed {
    pub from: String,
    pub to: String,
    pub why: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub object: String,
    pub pin_dir: String,
    pub programs: Vec<PinnedProgram>,
    pub maps: Vec<PinnedMap>,
    pub renamed: Vec<Renamed>,
}

/// Loads the programs of the object at `opts.path` (every one that
/// autoloads, or those `opts.only` names) and pins them with their maps, or
/// pins nothing and says why.
pub fn load(opts: &LoadOptions) -> Result<LoadReport> {
    let max = opts
        .max_object_size
        .unwrap_or(spec::DEFAULT_MAX_OBJECT_SIZE);
    let parsed = crate::object::externs::link_object(
        &opts.path,
        spec::parse_file_limited(&opts.path, max)?,
    )?;
    let spec = &parsed.spec;
    let chosen = choose(&parsed, opts.only.as_deref())?;
    // Without --only, every map of the object, as libbpf; with it, the maps
    // the chosen programs use.
    let used: BTreeSet<&str> = chosen
        .iter()
        .flat_map(|p| p.maps.iter().map(String::as_str))
        .collect();
    let maps: Vec<&MapSpec> = spec
        .maps
        .iter()
        .filter(|m| opts.only.is_none() || used.contains(m.name.as_str()))
        .collect();
    let pin_dir = mounts::absolute(&opts.pin_dir);
    let by_name_root = mounts::absolute(
        opts.pin_by_name_root
            .as_deref()
            .unwrap_or(Path::new(mounts::DEFAULT_BPFFS)),
    );
    let plan = plan(&chosen, &maps, &pin_dir, &by_name_root)?;
    for (name, path) in &plan.programs {
        if crate::fs::paths::lstat(path).is_ok() {
            return Err(in_use("program", name, path));
        }
    }
    for (name, path) in &plan.maps {
        if crate::fs::paths::lstat(path).is_ok() {
            return Err(in_use("map", name, path));
        }
    }
    let mut reused = HashSet::new();
    if !plan.by_name.is_empty() {
        match sys::fs_magic(&by_name_root) {
            Ok(m) if m == BPF_FS_MAGIC => {}
            _ => {
                return Err(Error::new(
                    Kind::NotBpffs,
                    "statfs",
                    format!(
                        "Cannot pin the object's by-name maps at {}: the directory is not on bpffs",
                        q(&by_name_root)
                    ),
                )
                .with_path(&by_name_root)
                .with_hint(
                    mounts::not_bpffs_hint(&by_name_root) + ", or pass --pin-by-name-root DIR",
                ));
            }
        }
        for (name, path) in &plan.by_name {
            if crate::fs::paths::lstat(path).is_ok() {
                let m = spec
                    .maps
                    .iter()
                    .find(|m| &m.name == name)
                    .expect("planned from the spec");
                check_compatible(m, path)?;
                reused.insert(name.clone());
            }
        }
    }

    let mut undo = Undo::default();
    for (name, path) in &plan.by_name {
        if !reused.contains(name) {
            undo.files.push(path.clone()); // aya pins it during the load
        }
    }
    // aya makes and pins every by-name map of the object; those the chosen
    // programs do not use go again once the load is over.
    let unused_by_name: Vec<PathBuf> = spec
        .maps
        .iter()
        .filter(|m| m.pinning == "by-name" && !plan.by_name.contains_key(&m.name))
        .map(|m| by_name_root.join(&m.name))
        .filter(|p| crate::fs::paths::lstat(p).is_err())
        .collect();
    undo.files.extend(unused_by_name.iter().cloned());

    // aya's loader parses the kernel's BTF itself, and we need our own
    // copy for programs that attach to BTF types: parse both at once.
    let prefetch = parsed
        .needs_kernel_btf
        .then(|| std::thread::spawn(kernel_btf));
    let mut loader = EbpfLoader::new();
    let btf = prefetch.and_then(|t| t.join().ok().flatten());
    loader.btf(btf).default_map_pin_directory(&by_name_root);
    let what = format!("Cannot load {}", q(&opts.path));
    let aya_sections: BTreeSet<usize> = chosen
        .iter()
        .filter(|p| parsed.section_of(p).handling == Handling::Aya)
        .map(|p| p.section_index)
        .collect();
    let bytes = parsed.aya_bytes(&aya_sections)?;
    let mut ebpf = loader
        .load(&bytes)
        .map_err(|e| aya_error(what, &e).with_path(&opts.path))?;
    for p in &unused_by_name {
        if let Some((d, name)) = at(p) {
            let _ = d.unlink(&name);
        }
    }

    let by_name: BTreeMap<&str, &ProgramSpec> =
        chosen.iter().map(|p| (p.name.as_str(), *p)).collect();
    for (name, prog) in ebpf.programs_mut() {
        if let Some(p) = by_name.get(name) {
            load_program(prog, name, &parsed.section_of(p).kind_name, btf)
                .map_err(|e| crate::object::externs::explain(e, &parsed.data))?;
        }
    }

    for d in &plan.new_dirs {
        if make_pin_dir(d)? {
            undo.dirs.push(d.clone());
        }
    }
    if !plan.maps.is_empty() {
        let d = pin_dir.join("maps");
        if make_pin_dir(&d)? {
            undo.dirs.push(d);
        }
    }

    // aya pins by path: it is given the pin's name below a handle on its
    // directory (`/proc/self/fd/N/NAME`, which the kernel resolves to the
    // directory opened), so a directory swapped in on the way after the
    // checks cannot redirect a pin.
    let mut dirs: BTreeMap<PathBuf, crate::fs::paths::Dir> = BTreeMap::new();
    let mut pin_at = |path: &Path| -> Result<PathBuf> {
        let (parent, name) = crate::fs::paths::split(path).ok_or_else(|| {
            Error::invalid("BPF_OBJ_PIN", format!("Cannot pin at {}", q(path))).with_path(path)
        })?;
        if !dirs.contains_key(parent) {
            let d = crate::fs::paths::Dir::open_following(parent).map_err(|e| {
                Error::sys(format!("Cannot open pin directory {}", q(parent)), e).with_path(parent)
            })?;
            dirs.insert(parent.to_path_buf(), d);
        }
        let d = &dirs[parent];
        Ok(PathBuf::from(format!(
            "/proc/self/fd/{}/{name}",
            d.fd().as_raw_fd()
        )))
    };
    for (name, prog) in ebpf.programs_mut() {
        let Some(path) = plan.programs.get(name) else {
            continue;
        };
        prog.pin(pin_at(path)?)
            .map_err(|e| pin_error("program", name, path, &e))?;
        undo.files.push(path.clone());
    }
    for (name, map) in ebpf.maps() {
        let Some(path) = plan.maps.get(name) else {
            continue;
        };
        map.pin(pin_at(path)?)
            .map_err(|e| pin_error("map", name, path, &e))?;
        undo.files.push(path.clone());
    }
    // The programs aya cannot load, linked by bpfx against the maps just
    // pinned.
    let own: Vec<&&ProgramSpec> = chosen
        .iter()
        .filter(|p| parsed.section_of(p).handling == Handling::Syscall)
        .collect();
    if !own.is_empty() {
        let mut fds: BTreeMap<String, std::os::fd::OwnedFd> = BTreeMap::new();
        for (name, path) in plan.maps.iter().chain(plan.by_name.iter()) {
            fds.insert(name.clone(), pins::open(path, Some(ObjKind::Map))?.0);
        }
        let fd_of = |n: &str| {
            use std::os::fd::AsRawFd as _;
            fds.get(n).map(|f| f.as_raw_fd())
        };
        for p in own {
            let fd = crate::object::syscall::load(&parsed, &bytes, p, &fd_of)?;
            let path = &plan.programs[&p.name];
            sys::bpf_obj_pin(fd.as_fd(), path).map_err(|e| {
                if e.errno() == libc::EEXIST {
                    in_use("program", &p.name, path)
                } else {
                    Error::sys(
                        format!("Cannot pin program \"{}\" at {}", p.name, q(path)),
                        e,
                    )
                    .with_path(path)
                }
            })?;
            undo.files.push(path.clone());
        }
    }

    let mut programs = Vec::new();
    for (name, path) in &plan.programs {
        let i = pins::show(path)?;
        let tag = match &i.detail {
            crate::kernel::info::Detail::Prog(p) => p.tag.clone(),
            _ => String::new(),
        };
        programs.push(PinnedProgram {
            name: name.clone(),
            path: path.display().to_string(),
            id: i.id,
            type_name: i.type_name,
            tag,
        });
    }
    let mut maps = Vec::new();
    for (name, path, pinning) in plan
        .maps
        .iter()
        .map(|(n, p)| (n, p, "none"))
        .chain(plan.by_name.iter().map(|(n, p)| (n, p, "by-name")))
    {
        let i = pins::show(path)?;
        maps.push(PinnedMap {
            name: name.clone(),
            path: path.display().to_string(),
            id: i.id,
            type_name: i.type_name,
            pinning,
            reused: reused.contains(name),
        });
    }
    undo.done = true;
    Ok(LoadReport {
        object: opts.path.display().to_string(),
        pin_dir: pin_dir.display().to_string(),
        programs,
        maps,
        renamed: plan.renamed,
    })
}
