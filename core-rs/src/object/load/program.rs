//! Loading one program through aya, at the attach point its section names,
//! and the kernel's BTF that programs attaching to BTF types need.

use super::aya_error;
use crate::error::{Error, Kind, Result};
use crate::object::spec;
use aya::Btf;
use aya::programs::Program;

/// The kernel's BTF, parsed once per process (it takes about 15 ms).
///
/// aya 0.14's `EbpfLoader::new()` parses it again on every load, whatever
/// the object needs; aya 0.16 parses lazily, but needs Rust 1.98.
pub fn kernel_btf() -> Option<&'static Btf> {
    static BTF: std::sync::OnceLock<Option<Btf>> = std::sync::OnceLock::new();
    BTF.get_or_init(|| Btf::from_sys_fs().ok()).as_ref()
}

fn need<'a>(target: &'a Option<String>, name: &str, section: &str) -> Result<&'a str> {
    target.as_deref().ok_or_else(|| {
        Error::invalid(
            "load",
            format!("Cannot load program \"{name}\": section \"{section}\" names no attach point"),
        )
    })
}

fn btf_needed<'a>(btf: Option<&'a Btf>, name: &str) -> Result<&'a Btf> {
    btf.ok_or_else(|| {
        Error::new(
            Kind::NotSupported,
            "load",
            format!(
                "Cannot load program \"{name}\": the kernel has no BTF at /sys/kernel/btf/vmlinux"
            ),
        )
    })
}

/// Loads one program, giving it the attach point its section names.
pub(crate) fn load_program(
    prog: &mut Program,
    name: &str,
    section: &str,
    btf: Option<&Btf>,
) -> Result<()> {
    let target = spec::attach_to(section);
    let what = || format!("Cannot load program \"{name}\" (section \"{section}\")");
    let r = match prog {
        Program::KProbe(p) => p.load(),
        Program::UProbe(p) => p.load(),
        Program::TracePoint(p) => p.load(),
        Program::SocketFilter(p) => p.load(),
        Program::ReusePortSocketFilter(p) => p.load(),
        Program::Xdp(p) => p.load(),
        Program::SkMsg(p) => p.load(),
        Program::SkSkb(p) => p.load(),
        Program::CgroupSockAddr(p) => p.load(),
        Program::SockOps(p) => p.load(),
        Program::SchedClassifier(p) => p.load(),
        Program::CgroupSkb(p) => p.load(),
        Program::CgroupSysctl(p) => p.load(),
        Program::CgroupSockopt(p) => p.load(),
        Program::LircMode2(p) => p.load(),
        Program::PerfEvent(p) => p.load(),
        Program::RawTracePoint(p) => p.load(),
        Program::FlowDissector(p) => p.load(),
        Program::SkLookup(p) => p.load(),
        Program::SkReuseport(p) => p.load(),
        Program::CgroupSock(p) => p.load(),
        Program::CgroupDevice(p) => p.load(),
        Program::Lsm(p) => p.load(need(&target, name, section)?, btf_needed(btf, name)?),
        Program::LsmCgroup(p) => p.load(need(&target, name, section)?, btf_needed(btf, name)?),
        Program::BtfTracePoint(p) => p.load(need(&target, name, section)?, btf_needed(btf, name)?),
        Program::FEntry(p) => p.load(need(&target, name, section)?, btf_needed(btf, name)?),
        Program::FExit(p) => p.load(need(&target, name, section)?, btf_needed(btf, name)?),
        Program::Iter(p) => p.load(need(&target, name, section)?, btf_needed(btf, name)?),
        Program::Extension(_) => {
            let mut e = Error::new(
                Kind::NotSupported,
                "load",
                format!(
                    "{}: freplace programs need a target program, which `bpfx load` cannot name yet",
                    what()
                ),
            );
            e.feature = Some("freplace".into());
            return Err(e);
        }
    };
    r.map_err(|e| aya_error(what(), &e))
}
