//! `SEC("syscall")` programs (`BPF_PROG_TYPE_SYSCALL`): aya 0.14 has no
//! such program type, so bpfx links them itself (`linker.rs`), loads them
//! sleepable with the object's BTF, and runs them with a context given as
//! bytes (`BPF_PROG_TEST_RUN`).

use crate::error::{Error, Kind, Result, q};
use crate::kernel::info::{self, ObjKind};
use crate::object::linker;
use crate::object::spec::{Parsed, ProgramSpec};
use crate::sys::progs;
use serde::Serialize;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// `BPF_PROG_TYPE_SYSCALL`.
pub const PROG_TYPE: u32 = 31;

/// The object's BTF as the kernel takes it (fixed up and sanitized the way
/// aya does for the programs it loads), loaded; `None` without BTF.
fn object_btf(bytes: &[u8]) -> Result<Option<OwnedFd>> {
    let Some(features) = aya::features().btf() else {
        return Ok(None);
    };
    let mut obj = aya_obj::Object::parse(bytes)
        .map_err(|e| Error::invalid("parse", format!("Cannot read the object's BTF: {e}")))?;
    let Some(btf) = obj
        .fixup_and_sanitize_btf(features)
        .map_err(|e| Error::invalid("parse", format!("Cannot fix up the object's BTF: {e}")))?
    else {
        return Ok(None);
    };
    let raw = btf.to_bytes();
    progs::btf_load(&raw)
        .map(Some)
        .map_err(|e| Error::sys("Cannot load the object's BTF", e))
}

/// Loads the syscall program `p` of `parsed` from `bytes` (the bytes given
/// to aya for the same load), with `map_fd` giving the fd of each map it
/// uses by name.
pub fn load(
    parsed: &Parsed,
    bytes: &[u8],
    p: &ProgramSpec,
    map_fd: &dyn Fn(&str) -> Option<i32>,
) -> Result<OwnedFd> {
    let what = || {
        format!(
            "Cannot load program \"{}\" (section \"{}\")",
            p.name, p.section
        )
    };
    let sec = parsed.section_of(p);
    let mut linked = linker::link(bytes, sec.index, &sec.name, &p.name)
        .map_err(|why| Error::invalid("link", format!("{}: {why}", what())))?;
    let missing = |what_is: String| {
        let mut e = Error::new(Kind::NotSupported, "link", format!("{}: {what_is}", what()));
        e.feature = Some("syscall".into());
        e
    };
    if !linked.externs.is_empty() {
        return Err(missing(format!(
            "it uses the externs {}, which bpfx does not resolve for syscall programs yet",
            linked
                .externs
                .iter()
                .map(|x| format!("\"{x}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if sec.core_relos > 0 {
        return Err(missing(format!(
            "its section has {} CO-RE relocations, which bpfx does not apply to syscall programs yet",
            sec.core_relos
        )));
    }
    linked
        .resolve_maps(map_fd)
        .map_err(|why| Error::internal(format!("{}: {why}", what())))?;
    let btf = if linked.func_info.is_empty() {
        None
    } else {
        object_btf(bytes)?
    };
    let insns = linked.words();
    let license = CString::new(parsed.spec.license.clone()).unwrap_or_else(|_| c"GPL".into());
    let attempt = |log: &mut [u8]| {
        progs::prog_load(&mut progs::FullProgLoad {
            expected_attach_type: 0,
            attach_btf_id: 0,
            prog_type: PROG_TYPE,
            insns: &insns,
            license: &license,
            name: p.name.as_bytes(),
            prog_flags: progs::BPF_F_SLEEPABLE,
            btf_fd: btf.as_ref().map(|f| f.as_fd()),
            func_info: &linked.func_info,
            line_info: &linked.line_info,
            log,
        })
    };
    match attempt(&mut []) {
        Ok(fd) => Ok(fd),
        Err(first) => {
            // Again with a log, as libbpf does, to say why.
            let mut log = vec![0u8; 1 << 20];
            let again = attempt(&mut log).err().unwrap_or(first);
            let end = log.iter().position(|&c| c == 0).unwrap_or(0);
            let text = String::from_utf8_lossy(&log[..end]).into_owned();
            let errno = again.errno();
            let mut e = Error::sys(what(), again);
            if !text.trim().is_empty() {
                e.kind = Kind::Verifier;
                e.message = format!(
                    "{}: the verifier refused it: {}",
                    what(),
                    crate::error::describe_errno(errno)
                );
                e.log = Some(text);
            }
            Err(e)
        }
    }
}

/// What one run of a program returned.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// The program's return value (`u32` as the kernel gives it).
    pub retval: u32,
    /// The context after the run (syscall programs write it back), hex.
    pub ctx: Option<String>,
    pub duration_ns: u32,
}

/// Runs the program behind `fd` once with `ctx` as its context.
pub fn run(fd: std::os::fd::BorrowedFd<'_>, what: &str, ctx: &[u8]) -> Result<RunReport> {
    let i = info::info_of_kind(fd, ObjKind::Prog)?;
    if ctx.len() as u64 > MAX_CTX {
        return Err(Error::invalid(
            "BPF_PROG_TEST_RUN",
            format!(
                "Cannot run {what}: the context is {} bytes, and the kernel takes at most 65535",
                ctx.len()
            ),
        ));
    }
    let mut buf = ctx.to_vec();
    let r = progs::prog_test_run(fd, &mut buf).map_err(|e| {
        let err = Error::sys(format!("Cannot run {what} (a {} program)", i.type_name), e);
        if err.errno == 524 || err.errno == libc::EOPNOTSUPP {
            err.with_hint("the kernel cannot test-run programs of this type")
        } else if err.errno == libc::EINVAL && i.type_num == PROG_TYPE {
            err.with_hint("a syscall program's context must be at least as large as what it reads")
        } else {
            err
        }
    })?;
    Ok(RunReport {
        id: i.id,
        name: crate::kernel::info::full_name(fd).unwrap_or(i.name),
        type_name: i.type_name,
        retval: r.retval,
        ctx: (i.type_num == PROG_TYPE && !ctx.is_empty()).then(|| hex(&buf)),
        duration_ns: r.duration_ns,
    })
}

/// Runs the program pinned at `path`.
pub fn run_pin(path: &Path, ctx: &[u8]) -> Result<RunReport> {
    let (fd, _) = crate::kernel::pins::open(path, Some(ObjKind::Prog))?;
    run(
        fd.as_fd(),
        &format!("the program pinned at {}", q(path)),
        ctx,
    )
}

/// Runs the program behind object handle `h`.
pub fn run_handle(h: u32, ctx: &[u8]) -> Result<RunReport> {
    crate::kernel::handles::with(h, |fd, kind, path| {
        if kind != ObjKind::Prog {
            return Err(Error::new(
                Kind::WrongKind,
                "BPF_PROG_TEST_RUN",
                format!("Cannot run handle {h}: it is {}", kind.noun()),
            ));
        }
        let what = match path {
            Some(p) => format!("the program pinned at {}", crate::error::q(p)),
            None => format!("program handle {h}"),
        };
        run(fd, &what, ctx)
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The largest context the kernel takes (`U16_MAX`).
const MAX_CTX: u64 = u16::MAX as u64;

/// Reads a context from a file: a regular file of at most 65535 bytes.
pub fn read_ctx(path: &Path) -> Result<Vec<u8>> {
    crate::object::spec::read_file(
        path,
        MAX_CTX,
        "the context from",
        "the kernel takes a context of at most 65535 bytes",
    )
}

/// Parses hex bytes (whitespace allowed between them).
pub fn unhex(s: &str) -> Result<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bad = || {
        Error::invalid(
            "parse",
            format!("Cannot read the context \"{s}\": give an even number of hex digits"),
        )
    };
    if !digits.len().is_multiple_of(2) {
        return Err(bad());
    }
    digits
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|t| u8::from_str_radix(t, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_odd_or_bad_digits() {
        assert_eq!(unhex("0a ff 10").unwrap(), vec![0x0a, 0xff, 0x10]);
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
        assert_eq!(unhex("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn read_ctx_takes_a_small_regular_file_only() {
        let dir = std::env::temp_dir().join(format!("bpfx-ctx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, [1u8, 2, 3]).unwrap();
        assert_eq!(read_ctx(&small).unwrap(), vec![1, 2, 3]);
        let big = dir.join("big");
        std::fs::write(&big, vec![0u8; 65536]).unwrap();
        let e = read_ctx(&big).unwrap_err();
        assert!(
            e.message
                .ends_with("it is 65536 bytes, over the limit of 65535 bytes"),
            "{}",
            e.message
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("the kernel takes a context of at most 65535 bytes")
        );
        let e = read_ctx(&dir).unwrap_err();
        assert!(e.message.ends_with("not a regular file"), "{}", e.message);
        let e = read_ctx(&dir.join("none")).unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_refused_run_names_the_call_and_the_program() {
        let _g = crate::sys::fake::install(|c| match c {
            crate::sys::Call::Bpf {
                cmd: crate::sys::BpfCmd::ObjGetInfoByFd,
                attr,
            } => {
                // A syscall program, id 7.
                let ptr = crate::sys::get_u64(attr, 8) as *mut u8;
                // SAFETY: the info buffer prog_info passed is 232 bytes.
                let info = unsafe { std::slice::from_raw_parts_mut(ptr, 232) };
                info[0..4].copy_from_slice(&PROG_TYPE.to_ne_bytes());
                info[4..8].copy_from_slice(&7u32.to_ne_bytes());
                Some(Ok(0))
            }
            crate::sys::Call::Bpf {
                cmd: crate::sys::BpfCmd::ProgTestRun,
                ..
            } => crate::sys::fake::errno(libc::EINVAL),
            _ => None,
        });
        let f = std::fs::File::open("/dev/null").unwrap();
        let e = run(f.as_fd(), "the program \"x\"", &[1, 2]).unwrap_err();
        assert_eq!(e.op, "BPF_PROG_TEST_RUN");
        assert_eq!(e.errno, libc::EINVAL);
        assert!(
            e.message
                .starts_with("Cannot run the program \"x\" (a syscall program)"),
            "{}",
            e.message
        );
        assert!(e.hint.as_deref().unwrap().contains("context"));
    }
}
