//! The program a link is made for: a pinned program, or one program loaded
//! from `OBJ:NAME` (and only it), with the kernel's information on it.

use crate::error::{Error, Kind, Result, q};
use crate::kernel::info::{self, Detail, ObjKind};
use crate::{fs::mounts, kernel::pins, object::spec};
use aya::{Ebpf, EbpfLoader};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// The program to link, kept loaded until the link holds it.
pub(crate) enum Prog {
    Pinned(OwnedFd),
    Loaded { ebpf: Box<Ebpf>, name: String },
}

impl Prog {
    pub(crate) fn fd(&self) -> Result<BorrowedFd<'_>> {
        match self {
            Prog::Pinned(fd) => Ok(fd.as_fd()),
            Prog::Loaded { ebpf, name } => ebpf
                .program(name)
                .ok_or_else(|| Error::internal(format!("program \"{name}\" is not loaded")))?
                .fd()
                .map(|fd| fd.as_fd())
                .map_err(|e| Error::internal(format!("program \"{name}\" has no fd: {e}"))),
        }
    }
}

/// A program opened for a link: its fd's owner, the kernel's information on
/// it, and for `OBJ:NAME` its section.
pub(crate) struct Opened {
    pub(crate) prog: Prog,
    /// `program "NAME"` or `the program pinned at "PATH"`, for messages.
    pub(crate) what: String,
    pub(crate) type_name: String,
    pub(super) attach_btf_id: u32,
    pub(super) attach_btf_obj_id: u32,
    pub(crate) section: Option<String>,
}

pub(crate) fn open_prog(spec: &str, pin_by_name_root: Option<&Path>) -> Result<Opened> {
    let as_path = Path::new(spec);
    let (prog, what, section) = if as_path.exists() || !spec.contains(':') {
        let (fd, _) = pins::open(as_path, Some(ObjKind::Prog))?;
        (
            Prog::Pinned(fd),
            format!("the program pinned at {}", q(as_path)),
            None,
        )
    } else {
        let (obj, name) = spec.rsplit_once(':').expect("contains ':'");
        let (ebpf, section) = load_one(Path::new(obj), name, pin_by_name_root)?;
        (
            Prog::Loaded {
                ebpf,
                name: name.to_string(),
            },
            format!("program \"{name}\""),
            Some(section),
        )
    };
    let i = info::info_of_kind(prog.fd()?, ObjKind::Prog)?;
    let Detail::Prog(p) = &i.detail else {
        unreachable!("a program has program info")
    };
    Ok(Opened {
        what,
        type_name: i.type_name.clone(),
        attach_btf_id: p.attach_btf_id,
        attach_btf_obj_id: p.attach_btf_obj_id,
        section,
        prog,
    })
}

/// Loads program `name` of the object at `obj` (and only it); returns the
/// loaded object and the program's section.
fn load_one(
    obj: &Path,
    name: &str,
    pin_by_name_root: Option<&Path>,
) -> Result<(Box<Ebpf>, String)> {
    // As `load` reads an object: externs linked, then the sections pre-pass
    // showing aya only this program's section.
    let parsed = crate::object::externs::link_object(obj, spec::parse_file(obj)?)?;
    let p = parsed.program(name)?;
    if let Some(why) = &p.unsupported {
        return Err(Error::new(
            Kind::NotSupported,
            "load",
            format!(
                "Cannot load program \"{name}\" (section \"{}\") of {}: {why}",
                p.section,
                q(obj)
            ),
        )
        .with_path(obj));
    }
    let sec = parsed.section_of(p);
    if sec.handling != crate::object::sections::Handling::Aya {
        return Err(Error::new(
            Kind::NotSupported,
            "load",
            format!(
                "Cannot attach program \"{name}\" (section \"{}\") of {}: load and pin it first (`bpfx load`), then attach the pin",
                p.section,
                q(obj)
            ),
        )
        .with_path(obj));
    }
    let section = sec.kind_name.clone();
    let bytes = parsed.aya_bytes(&std::collections::BTreeSet::from([p.section_index]))?;
    let btf = parsed
        .needs_kernel_btf
        .then(crate::object::load::kernel_btf)
        .flatten();
    let root = pin_by_name_root.unwrap_or(Path::new(mounts::DEFAULT_BPFFS));
    let mut ebpf = EbpfLoader::new()
        .btf(btf)
        .default_map_pin_directory(root)
        .load(&bytes)
        .map_err(|e| {
            crate::object::load::aya_error(format!("Cannot load {}", q(obj)), &e).with_path(obj)
        })?;
    let prog = ebpf
        .program_mut(name)
        .ok_or_else(|| Error::internal(format!("aya did not load program \"{name}\"")))?;
    crate::object::load::load_program(prog, name, &section, btf)?;
    Ok((Box::new(ebpf), section))
}
