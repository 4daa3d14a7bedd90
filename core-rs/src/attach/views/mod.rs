//! Views: iterator links made with the parameters their target takes,
//! pinned in bpffs, so that reading the pin runs the program.
//!
//! The kernel reads `union bpf_iter_link_info` by the program's target and
//! refuses nothing that is merely meant for another target, so every
//! parameter is checked here against the target named by the program's
//! `attach_btf_id` (`bpf_iter_<target>`).
//!
//! This file makes a view (`create`: the link, its pin); its parts:
//! - `params`: the parameters a caller may give, checked against the target.

mod params;

pub use params::{ViewParams, link_params, order};

use crate::error::{Error, Kind, Result, q};
use crate::fs::mounts;
use crate::kernel::btf::RawBtf;
use crate::kernel::info::{self, Detail, ObjKind, ObjectInfo};
use crate::{kernel::pins, object::spec, sys};
use aya::programs::Program;
use aya::{Ebpf, EbpfLoader};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

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

/// Checks that `pin` can be made for a view.
pub fn check_pin_path(pin: &Path) -> Result<()> {
    pins::check_new(pin, "view")
}

/// Makes an iterator link of `prog` with `params`.
pub fn make_link(prog: BorrowedFd<'_>, target: &str, params: sys::IterParams) -> Result<OwnedFd> {
    sys::bpf_link_create_iter(prog, params).map_err(|e| {
        let err = Error::sys(format!("Cannot make a \"{target}\" iterator link"), e);
        match (err.errno, params) {
            (libc::ENOENT, sys::IterParams::Cgroup { cgroup_id, .. }) => err.with_message(format!(
                "Cannot make a \"{target}\" iterator link: no cgroup has id {cgroup_id} (was it removed?)"
            )),
            _ => err,
        }
    })
}

/// Pins the view `link` at `pin`.
pub fn pin_link(link: BorrowedFd<'_>, pin: &Path) -> Result<()> {
    pins::pin_at(link, pin, "view")
}

/// Makes one view: an iterator link of `prog` with `params`, pinned at `pin`.
/// Nothing is pinned unless every check passes.
pub fn create(
    prog: &str,
    pin: &Path,
    params: &ViewParams,
    pin_by_name_root: Option<&Path>,
) -> Result<ObjectInfo> {
    let pin = mounts::absolute(pin);
    check_pin_path(&pin)?;
    let (prog, target) = open_prog(prog, pin_by_name_root)?;
    let (params, _keep) = link_params(&target, params)?;
    let link = make_link(prog.fd()?, &target, params)?;
    pin_link(link.as_fd(), &pin)?;
    let mut i = info::info_of_kind(link.as_fd(), ObjKind::Link)?;
    i.path = Some(pin.display().to_string());
    Ok(i)
}

/// A view (or any readable file) opened for the data lane. A read that
/// fails after the same call read some bytes hands those bytes out, and the
/// next call reports the error: nothing read is lost.
pub struct Reader {
    file: std::fs::File,
    path: Option<PathBuf>,
    /// The error of a read cut short, for the next call.
    pending: std::sync::Mutex<Option<Error>>,
}

impl crate::kernel::handles::Readable for Reader {
    fn read(&self, buf: &mut [u8]) -> Result<(usize, Option<Error>)> {
        Reader::read(self, buf)
    }
}

impl Reader {
    /// A reader of `file`, opened from `path` (named in errors).
    pub fn new(file: std::fs::File, path: Option<PathBuf>) -> Self {
        Reader {
            file,
            path,
            pending: std::sync::Mutex::new(None),
        }
    }

    /// Fills `buf` (or reaches the end) with as many reads as it takes: each
    /// crossing of a `nonblocking` call costs a hop through Deno's thread
    /// pool, while a view's reads never block for long. Returns the count
    /// (short only at the end, or when a read failed after earlier bytes:
    /// then with that error, which the next call returns).
    pub fn read(&self, buf: &mut [u8]) -> Result<(usize, Option<Error>)> {
        use std::io::Read as _;
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = pending.take() {
            return Err(e);
        }
        let mut filled = 0;
        while filled < buf.len() {
            match (&self.file).read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let err =
                        read_error(self.path.as_deref(), e.raw_os_error().unwrap_or(libc::EIO));
                    if filled == 0 {
                        return Err(err);
                    }
                    *pending = Some(err.clone());
                    return Ok((filled, Some(err)));
                }
            }
        }
        Ok((filled, None))
    }
}

/// Opens a view for reading through the data lane: a pinned BPF iterator
/// link, reached by `path` (symlinks followed, as `cat` does). Anything else
/// is refused: a file off bpffs (`/etc/passwd`), a pinned program or map, a
/// link of another kind. The check is made on the file opened, through its
/// descriptor, so a path swapped after the open cannot get around it.
pub fn open_reader(path: &Path) -> Result<Reader> {
    use std::os::fd::AsRawFd as _;
    let cannot = |e: std::io::Error| {
        Error::io(format!("Cannot open view {}", q(path)), "open", &e).with_path(path)
    };
    // O_PATH: nothing is opened for reading yet (a FIFO in a view's place
    // cannot hang it); what it names is checked, then reopened through it.
    let held = crate::fs::paths::open_object(path)
        .map_err(|e| Error::sys(format!("Cannot open view {}", q(path)), e).with_path(path))?;
    let me = std::path::PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd()));
    let not_view = |what: String| {
        Error::new(
            Kind::WrongKind,
            "open",
            format!("Cannot read {}: {what}, not a view", q(path)),
        )
        .with_path(path)
        .with_hint(
            "bpfx cat reads views, pinned BPF iterators (make one with `bpfx view`); read other files with cat",
        )
    };
    if crate::sys::fs::stat_at(held.as_fd(), "")
        .is_ok_and(|st| st.mode & libc::S_IFMT == libc::S_IFDIR)
    {
        return Err(not_view("it is a directory".into()));
    }
    if !crate::fs::mounts::is_bpffs(&me) {
        return Err(not_view("it is not on bpffs".into()));
    }
    let (fd, kind) =
        pins::open(&me, None).map_err(|_| not_view("it is not a pinned BPF object".into()))?;
    if kind != ObjKind::Link {
        return Err(not_view(format!("it is {}", kind.noun())));
    }
    let info = info::info_of_kind(fd.as_fd(), ObjKind::Link)?;
    if info.type_name != "iter" {
        return Err(not_view(format!("it is a {} link", info.type_name)));
    }
    let f = std::fs::File::open(&me).map_err(cannot)?;
    Ok(Reader::new(f, Some(path.to_path_buf())))
}

/// The walk order of the cgroup iterator pinned at `path` (followed through
/// symlinks), when it walks more than its cgroup; `None` for anything else.
fn cgroup_walk(path: &Path) -> Option<String> {
    let (fd, _) = pins::open(path, Some(ObjKind::Link)).ok()?;
    let info = info::info_of_kind(fd.as_fd(), ObjKind::Link).ok()?;
    let Detail::Link(link) = &info.detail else {
        return None;
    };
    let order = link.target.get("order")?.as_str()?;
    (link.target.get("iter")?.as_str()? == "cgroup" && order != "self").then(|| order.to_string())
}

/// The message for a failed read of a view.
pub fn read_error(path: Option<&Path>, errno: i32) -> Error {
    let what = match path {
        Some(p) => format!("Cannot read view {}", q(p)),
        None => "Cannot read the view".to_string(),
    };
    let mut e = Error::from_errno(&what, "read", errno);
    if errno == libc::E2BIG {
        e.message = format!(
            "{what}: the program's output for one object is larger than the iterator's buffer (8 pages)"
        );
        e.hint = Some("print less per object in the program".into());
    }
    if errno == libc::EOPNOTSUPP
        && let Some(order) = path.and_then(cgroup_walk)
    {
        e = walk_cut_short(e, &order);
    }
    e
}

/// Explains EOPNOTSUPP from a cgroup iterator walking in `order`: the
/// kernel cannot resume a walk in a new read session.
fn walk_cut_short(mut e: Error, order: &str) -> Error {
    e.message = format!(
        "{}: the kernel's cgroup iterator stops a walk (order \"{order}\") after one read session (about 32 KiB of output), and this walk had more",
        e.message
    );
    e.hint = Some(
        "the views per cgroup that `bpfx attach` makes (order \"self\") have no such limit; or print less per cgroup".into(),
    );
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_cut_short_hands_out_its_bytes_then_the_error() {
        // A pipe with bytes in it, then a read error: EBADF from a pipe end
        // that cannot be read (the write end).
        let (r, w) = std::io::pipe().unwrap();
        use std::io::Write as _;
        (&w).write_all(b"abc").unwrap();
        drop(w);
        let reader = Reader::new(std::fs::File::from(OwnedFd::from(r)), Some("/v".into()));
        let mut buf = [0u8; 8];
        let (n, cut_short) = reader.read(&mut buf).unwrap();
        assert!(n == 3 && cut_short.is_none(), "short: the end");
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(reader.read(&mut buf).unwrap().0, 0);

        let (_r, w) = std::io::pipe().unwrap();
        let reader = Reader::new(std::fs::File::from(OwnedFd::from(w)), None);
        let e = reader.read(&mut buf).unwrap_err();
        assert_eq!(e.errno, libc::EBADF);
        // The pending error of a read cut short comes with the bytes, then alone.
        *reader.pending.lock().unwrap() = Some(read_error(None, libc::EOPNOTSUPP));
        let e = reader.read(&mut buf).unwrap_err();
        assert_eq!(e.errno, libc::EOPNOTSUPP);
        assert_eq!(reader.read(&mut buf).unwrap_err().errno, libc::EBADF);
    }

    #[test]
    fn a_cgroup_walk_cut_short_says_why_and_what_has_no_limit() {
        let e = walk_cut_short(
            read_error(Some(Path::new("/v")), libc::EOPNOTSUPP),
            "descendants-pre",
        );
        assert_eq!(e.kind, Kind::NotSupported);
        assert_eq!(
            e.message,
            "Cannot read view \"/v\": operation not supported: the kernel's cgroup iterator stops a walk (order \"descendants-pre\") after one read session (about 32 KiB of output), and this walk had more"
        );
        assert!(e.hint.as_deref().unwrap().contains("bpfx attach"));
        // Not a pin at all: no such context.
        let plain = read_error(Some(Path::new("/nonexistent")), libc::EOPNOTSUPP);
        assert_eq!(
            plain.message,
            "Cannot read view \"/nonexistent\": operation not supported"
        );
        let big = read_error(Some(Path::new("/v")), libc::E2BIG);
        assert!(
            big.message
                .starts_with("Cannot read view \"/v\": the program's output")
        );
    }

    #[test]
    fn a_vanished_cgroup_is_named_in_the_error() {
        let _g = sys::fake::install(|c| match c {
            sys::Call::Bpf {
                cmd: sys::BpfCmd::LinkCreate,
                ..
            } => sys::fake::errno(libc::ENOENT),
            _ => None,
        });
        let f = std::fs::File::open("/dev/null").unwrap();
        let e = make_link(
            f.as_fd(),
            "cgroup",
            sys::IterParams::Cgroup {
                order: 1,
                cgroup_fd: 0,
                cgroup_id: 99,
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert_eq!(e.op, "BPF_LINK_CREATE");
        assert!(e.message.contains("no cgroup has id 99"), "{}", e.message);
    }
}
