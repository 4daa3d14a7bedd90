//! The iterator program a view is made from: a pinned program, or
//! `OBJ:NAME`, loaded now from an object file; and the target it iterates.

use crate::error::{Error, Kind, Result, q};
use crate::fs::mounts;
use crate::kernel::btf::RawBtf;
use crate::kernel::info::{self, Detail, ObjKind};
use crate::{kernel::pins, object::spec};
use aya::programs::Program;
use aya::{Ebpf, EbpfLoader};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// A program to make views from, kept loaded while links are made.
pub enum IterProg {
    Pinned { fd: OwnedFd, name: String },
    Loaded { ebpf: Box<Ebpf>, name: String },
}

impl IterProg {
    pub fn fd(&self) -> Result<BorrowedFd<'_>> {
        match self {
            IterProg::Pinned { fd, .. } => Ok(fd.as_fd()),
            IterProg::Loaded { ebpf, name } => match ebpf.program(name) {
                Some(Program::Iter(p)) => p
                    .fd()
                    .map(|fd| fd.as_fd())
                    .map_err(|e| Error::internal(format!("program \"{name}\" has no fd: {e}"))),
                _ => Err(Error::internal(format!("program \"{name}\" is not loaded"))),
            },
        }
    }
}

/// The iterator target of a loaded program (`task`, `cgroup`, ...), and
/// the program's name.
pub fn target_of(fd: BorrowedFd<'_>, what: &str) -> Result<(String, String)> {
    let info = info::info_of_kind(fd, ObjKind::Prog)?;
    let Detail::Prog(p) = &info.detail else {
        unreachable!("a program has program info")
    };
    let not_iter = || {
        Error::new(
            Kind::WrongKind,
            "BPF_OBJ_GET_INFO_BY_FD",
            format!(
                "{what} is not an iterator program (its type is {})",
                info.type_name
            ),
        )
        .with_hint("a view needs a program from a SEC(\"iter/...\") section")
    };
    if info.type_name != "tracing" || p.attach_btf_id == 0 {
        return Err(not_iter());
    }
    let btf = RawBtf::kernel()?;
    match btf
        .name_of(p.attach_btf_id)
        .and_then(|n| n.strip_prefix("bpf_iter_"))
    {
        Some(t) => Ok((t.to_string(), info.name.clone())),
        None => Err(not_iter()),
    }
}

/// The error for an object file named where a pinned program or `OBJ:NAME`
/// is expected (`bpfx view prog.o PIN`): which programs to name. `None` when
/// `path` is not a regular file that starts like an ELF file.
fn object_without_name(path: &Path) -> Option<Error> {
    let data = spec::read_object(path, spec::DEFAULT_MAX_OBJECT_SIZE).ok()?;
    if !data.starts_with(b"\x7fELF") {
        return None;
    }
    let iters: Vec<String> = spec::parse(path, data)
        .map(|p| {
            p.spec
                .programs
                .iter()
                .filter(|p| p.section.starts_with("iter/") || p.section.starts_with("iter.s/"))
                .map(|p| format!("{}:{}", path.display(), p.name))
                .collect()
        })
        .unwrap_or_default();
    let hint = if iters.is_empty() {
        "name a program of it as OBJ:NAME (`bpfx inspect OBJ` lists them)".to_string()
    } else {
        format!("name one of its iterator programs: {}", iters.join(", "))
    };
    Some(
        Error::new(
            Kind::Invalid,
            "lookup",
            format!(
                "Cannot use {} as a program: it is an object file, not a pinned program",
                q(path)
            ),
        )
        .with_path(path)
        .with_hint(hint),
    )
}

/// Opens the program `spec` names: a pinned program, or `OBJ:NAME`, an
/// iterator program in an object file, loaded now.
pub fn open_prog(spec: &str, pin_by_name_root: Option<&Path>) -> Result<(IterProg, String)> {
    let as_path = Path::new(spec);
    if as_path.exists() || !spec.contains(':') {
        let (fd, _) = pins::open(as_path, Some(ObjKind::Prog))
            .map_err(|e| object_without_name(as_path).unwrap_or(e))?;
        let (target, name) =
            target_of(fd.as_fd(), &format!("The program pinned at {}", q(as_path)))?;
        return Ok((IterProg::Pinned { fd, name }, target));
    }
    let (obj, name) = spec.rsplit_once(':').expect("contains ':'");
    let parsed =
        crate::object::externs::link_object(Path::new(obj), spec::parse_file(Path::new(obj))?)?;
    let prog = parsed.program(name)?;
    let section = parsed.section_of(prog);
    let Some(target) = section
        .kind_name
        .strip_prefix("iter/")
        .or_else(|| section.kind_name.strip_prefix("iter.s/"))
    else {
        return Err(Error::new(
            Kind::WrongKind,
            "lookup",
            format!(
                "Program \"{name}\" of \"{obj}\" is not an iterator program (section \"{}\")",
                prog.section
            ),
        )
        .with_hint("a view needs a program from a SEC(\"iter/...\") section"));
    };
    let target = target.to_string();
    let prefetch = std::thread::spawn(crate::object::load::kernel_btf);
    let loader = EbpfLoader::new();
    let btf = prefetch.join().ok().flatten().ok_or_else(|| {
        Error::new(
            Kind::NotSupported,
            "load",
            "Cannot read the kernel's BTF at /sys/kernel/btf/vmlinux",
        )
    })?;
    let root = pin_by_name_root.unwrap_or(Path::new(mounts::DEFAULT_BPFFS));
    let mut loader = loader;
    let mut ebpf = loader
        .btf(Some(btf))
        .default_map_pin_directory(root)
        .load(&parsed.aya_bytes(&[prog.section_index].into())?)
        .map_err(|e| {
            crate::object::load::aya_error(format!("Cannot load {}", q(Path::new(obj))), &e)
        })?;
    match ebpf.program_mut(name) {
        Some(Program::Iter(p)) => p
            .load(&target, btf)
            .map_err(|e| {
                crate::object::load::aya_error(format!("Cannot load program \"{name}\""), &e)
            })
            .map_err(|e| crate::object::externs::explain(e, &parsed.data))?,
        _ => {
            return Err(Error::internal(format!(
                "program \"{name}\" is not an iterator in aya's view"
            )));
        }
    }
    Ok((
        IterProg::Loaded {
            ebpf: Box::new(ebpf),
            name: name.to_string(),
        },
        target,
    ))
}
