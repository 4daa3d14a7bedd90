//! The program calls aya 0.14 has no public form of: `BPF_PROG_LOAD` with
//! BTF, func_info, line_info and flags (for program types aya cannot load),
//! `BPF_BTF_LOAD`, `BPF_PROG_TEST_RUN`, and the first func_info record of a
//! loaded program.

use super::{ATTR_SIZE, BpfCmd, Call, SysResult, fd_result, get_u32, put_u32, put_u64, syscall};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `BPF_F_SLEEPABLE`.
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;

/// A program to load with [`prog_load`], with everything the kernel may
/// need beside its instructions.
pub struct FullProgLoad<'a> {
    pub prog_type: u32,
    pub insns: &'a [u64],
    pub license: &'a CStr,
    pub name: &'a [u8],
    pub prog_flags: u32,
    pub expected_attach_type: u32,
    pub attach_btf_id: u32,
    pub btf_fd: Option<BorrowedFd<'a>>,
    /// `struct bpf_func_info` records (8 bytes each).
    pub func_info: &'a [u8],
    /// `struct bpf_line_info` records (16 bytes each).
    pub line_info: &'a [u8],
    /// Where the verifier writes its log; empty for none.
    pub log: &'a mut [u8],
}

/// `BPF_PROG_LOAD` with BTF and flags.
/// `BPF_PROG_GET_FD_BY_ID`: a new fd for the program with that id.
pub fn prog_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    super::fd_by_id(BpfCmd::ProgGetFdById, id)
}

pub fn prog_load(p: &mut FullProgLoad<'_>) -> SysResult<OwnedFd> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, p.prog_type);
    put_u32(&mut attr, 4, p.insns.len() as u32);
    put_u64(&mut attr, 8, p.insns.as_ptr() as u64);
    put_u64(&mut attr, 16, p.license.as_ptr() as u64);
    if !p.log.is_empty() {
        p.log[0] = 0;
        put_u32(&mut attr, 24, 1); // log_level
        put_u32(&mut attr, 28, p.log.len().min(u32::MAX as usize) as u32);
        put_u64(&mut attr, 32, p.log.as_mut_ptr() as u64);
    }
    put_u32(&mut attr, 44, p.prog_flags);
    put_u32(&mut attr, 68, p.expected_attach_type);
    put_u32(&mut attr, 108, p.attach_btf_id);
    let n = p.name.len().min(15);
    attr[48..48 + n].copy_from_slice(&p.name[..n]);
    if let Some(btf) = p.btf_fd {
        put_u32(&mut attr, 72, btf.as_raw_fd() as u32);
        if !p.func_info.is_empty() {
            put_u32(&mut attr, 76, 8);
            put_u64(&mut attr, 80, p.func_info.as_ptr() as u64);
            put_u32(&mut attr, 88, (p.func_info.len() / 8) as u32);
        }
        if !p.line_info.is_empty() {
            put_u32(&mut attr, 92, 16);
            put_u64(&mut attr, 96, p.line_info.as_ptr() as u64);
            put_u32(&mut attr, 104, (p.line_info.len() / 16) as u32);
        }
    }
    let fd = syscall(Call::Bpf {
        cmd: BpfCmd::ProgLoad,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// `BPF_BTF_LOAD` of raw BTF.
pub fn btf_load(btf: &[u8]) -> SysResult<OwnedFd> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u64(&mut attr, 0, btf.as_ptr() as u64);
    put_u32(&mut attr, 16, btf.len() as u32);
    let fd = syscall(Call::Bpf {
        cmd: BpfCmd::BtfLoad,
        attr: &mut attr,
    })?;
    Ok(fd_result(fd))
}

/// What one test run returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRun {
    pub retval: u32,
    pub duration_ns: u32,
}

/// `BPF_PROG_TEST_RUN` with a context only. The kernel reads `ctx` and, for
/// syscall programs, writes the context back into it after the run.
pub fn prog_test_run(prog: BorrowedFd<'_>, ctx: &mut [u8]) -> SysResult<TestRun> {
    let mut attr = [0u8; ATTR_SIZE];
    put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
    if !ctx.is_empty() {
        put_u32(&mut attr, 40, ctx.len() as u32);
        put_u64(&mut attr, 48, ctx.as_mut_ptr() as u64);
    }
    syscall(Call::Bpf {
        cmd: BpfCmd::ProgTestRun,
        attr: &mut attr,
    })?;
    Ok(TestRun {
        retval: get_u32(&attr, 4),
        duration_ns: get_u32(&attr, 36),
    })
}

/// The BTF type id of a loaded program's first function (its first
/// func_info record), as bpftool reads it; `None` when it has none.
pub fn first_func_type(prog: BorrowedFd<'_>) -> SysResult<Option<u32>> {
    // struct bpf_prog_info: btf_id at 128, func_info_rec_size at 132,
    // func_info at 136, nr_func_info at 144.
    let mut info = [0u8; 232];
    super::bpf_obj_get_info(prog, &mut info)?;
    if get_u32(&info, 128) == 0 || get_u32(&info, 144) == 0 {
        return Ok(None);
    }
    let mut rec = [0u8; 8];
    let mut again = [0u8; 232];
    put_u32(&mut again, 132, rec.len() as u32);
    put_u64(&mut again, 136, rec.as_mut_ptr() as u64);
    put_u32(&mut again, 144, 1);
    super::bpf_obj_get_info(prog, &mut again)?;
    Ok(Some(get_u32(&rec, 4)))
}
