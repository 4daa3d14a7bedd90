//! Map element and batch calls (`BPF_MAP_*_ELEM`, `BPF_MAP_*_BATCH`), and
//! `BPF_BTF_GET_FD_BY_ID`. aya has no batch calls (its issue 1124), and the
//! data lane passes the caller's buffers straight to the kernel.

use super::{BpfCmd, Call, SysResult, get_u32, put_u32, put_u64, syscall};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// A pointer for the kernel, or 0 for an empty slice (a NULL key).
fn ptr(b: &[u8]) -> u64 {
    if b.is_empty() { 0 } else { b.as_ptr() as u64 }
}

fn elem(cmd: BpfCmd, fd: BorrowedFd<'_>, key: &[u8], value: u64, flags: u64) -> SysResult<()> {
    let mut attr = [0u8; 32];
    put_u32(&mut attr, 0, fd.as_raw_fd() as u32);
    put_u64(&mut attr, 8, ptr(key));
    put_u64(&mut attr, 16, value);
    put_u64(&mut attr, 24, flags);
    syscall(Call::Bpf {
        cmd,
        attr: &mut attr,
    })?;
    Ok(())
}

/// `BPF_MAP_LOOKUP_ELEM` (an empty key: peek a queue or stack).
pub fn lookup(fd: BorrowedFd<'_>, key: &[u8], value: &mut [u8], flags: u64) -> SysResult<()> {
    elem(
        BpfCmd::MapLookupElem,
        fd,
        key,
        value.as_mut_ptr() as u64,
        flags,
    )
}

/// `BPF_MAP_UPDATE_ELEM` (an empty key: push onto a queue or stack).
pub fn update(fd: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
    elem(BpfCmd::MapUpdateElem, fd, key, value.as_ptr() as u64, flags)
}

/// `BPF_MAP_DELETE_ELEM`.
pub fn delete(fd: BorrowedFd<'_>, key: &[u8]) -> SysResult<()> {
    elem(BpfCmd::MapDeleteElem, fd, key, 0, 0)
}

/// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (an empty key: pop a queue or stack).
pub fn lookup_and_delete(
    fd: BorrowedFd<'_>,
    key: &[u8],
    value: &mut [u8],
    flags: u64,
) -> SysResult<()> {
    elem(
        BpfCmd::MapLookupAndDeleteElem,
        fd,
        key,
        value.as_mut_ptr() as u64,
        flags,
    )
}

/// `BPF_MAP_GET_NEXT_KEY` (an empty key: the first key).
pub fn next_key(fd: BorrowedFd<'_>, key: &[u8], next: &mut [u8]) -> SysResult<()> {
    elem(BpfCmd::MapGetNextKey, fd, key, next.as_mut_ptr() as u64, 0)
}

/// The batch commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    Lookup,
    LookupAndDelete,
    Update,
    Delete,
}

/// One batch call. `in_batch`/`out_batch` are the opaque cursors (each
/// key-sized; an empty `in_batch` starts at the beginning); `count` is the
/// number of entries offered, and returns the number done. ENOENT from a
/// lookup means the map has no more entries (the count is still valid).
#[allow(clippy::too_many_arguments)]
pub fn batch(
    op: Batch,
    fd: BorrowedFd<'_>,
    in_batch: &[u8],
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: &mut u32,
    elem_flags: u64,
) -> SysResult<()> {
    let cmd = match op {
        Batch::Lookup => BpfCmd::MapLookupBatch,
        Batch::LookupAndDelete => BpfCmd::MapLookupAndDeleteBatch,
        Batch::Update => BpfCmd::MapUpdateBatch,
        Batch::Delete => BpfCmd::MapDeleteBatch,
    };
    let mut attr = [0u8; 56];
    put_u64(&mut attr, 0, ptr(in_batch));
    put_u64(
        &mut attr,
        8,
        if out_batch.is_empty() {
            0
        } else {
            out_batch.as_mut_ptr() as u64
        },
    );
    put_u64(&mut attr, 16, ptr(keys));
    put_u64(
        &mut attr,
        24,
        if values.is_empty() {
            0
        } else {
            values.as_mut_ptr() as u64
        },
    );
    put_u32(&mut attr, 32, *count);
    put_u32(&mut attr, 36, fd.as_raw_fd() as u32);
    put_u64(&mut attr, 40, elem_flags);
    let r = syscall(Call::Bpf {
        cmd,
        attr: &mut attr,
    });
    *count = get_u32(&attr, 32);
    r.map(drop)
}

/// `BPF_BTF_GET_FD_BY_ID`.
pub fn btf_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    super::fd_by_id(BpfCmd::BtfGetFdById, id)
}

/// The raw BTF data behind a BTF fd (`BPF_OBJ_GET_INFO_BY_FD` twice).
pub fn btf_data(fd: BorrowedFd<'_>) -> SysResult<Vec<u8>> {
    // struct bpf_btf_info { u64 btf; u32 btf_size; u32 id; u64 name; u32 name_len; u32 kernel_btf; }
    let mut info = [0u8; 32];
    super::bpf_obj_get_info(fd, &mut info)?;
    let size = get_u32(&info, 8) as usize;
    let mut data = vec![0u8; size];
    let mut again = [0u8; 32];
    put_u64(&mut again, 0, data.as_mut_ptr() as u64);
    put_u32(&mut again, 8, size as u32);
    super::bpf_obj_get_info(fd, &mut again)?;
    Ok(data)
}

/// The page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no pointers.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as usize
}

/// `mmap(fd, len, offset)`, shared; writable when asked.
pub fn mmap(fd: BorrowedFd<'_>, len: usize, write: bool, offset: usize) -> SysResult<*mut u8> {
    let prot = libc::PROT_READ | if write { libc::PROT_WRITE } else { 0 };
    let mut addr = std::ptr::null_mut();
    super::named("mmap", || {
        // SAFETY: a fresh shared mapping of a valid fd.
        addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if addr == libc::MAP_FAILED { -1 } else { 0 }
    })?;
    Ok(addr.cast())
}

/// `munmap`.
pub fn munmap(addr: *mut u8, len: usize) {
    // SAFETY: `addr`/`len` come from a successful `mmap`.
    unsafe { libc::munmap(addr.cast(), len) };
}
