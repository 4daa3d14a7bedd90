//! Maps on the data lane: element and batch calls on the caller's buffers,
//! the sizes they must have, the BTF of keys and values, and ring buffers.

use crate::error::{Error, Kind, Result};
use crate::kernel::btf::RawBtf;
use crate::kernel::info::{self, Detail, ObjKind};
use crate::kernel::names;
use crate::sys::maps as smaps;
use serde::Serialize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// What the data lane needs to know of a map, read once at open.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapMeta {
    pub map_type: u32,
    pub key_size: u32,
    /// The kernel's value size (per CPU, for per-CPU maps).
    pub value_size: u32,
    /// The bytes a lookup writes: for per-CPU maps, the value size rounded up
    /// to 8, times the number of possible CPUs.
    pub value_buf_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    /// Possible CPUs (per-CPU maps hold one value each).
    pub cpus: u32,
    pub per_cpu: bool,
}

const PERCPU: [&str; 4] = [
    "percpu_hash",
    "percpu_array",
    "lru_percpu_hash",
    "percpu_cgroup_storage",
];

/// The number of possible CPUs, from `/sys/devices/system/cpu/possible`.
pub fn possible_cpus() -> u32 {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let mut n = 0;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                b.parse::<u32>()
                    .unwrap_or(0)
                    .saturating_sub(a.parse().unwrap_or(0))
                    + 1
            }
            None => 1,
        };
    }
    n.max(1)
}

/// Reads the map's meta from the kernel.
pub fn meta(fd: BorrowedFd<'_>) -> Result<MapMeta> {
    let i = info::info_of_kind(fd, ObjKind::Map)?;
    let Detail::Map(m) = &i.detail else {
        unreachable!("a map has map info")
    };
    let per_cpu = PERCPU.contains(&names::map_type(i.type_num).as_str());
    let cpus = possible_cpus();
    let value_buf_size = if per_cpu {
        m.value_size.div_ceil(8) * 8 * cpus
    } else {
        m.value_size
    };
    Ok(MapMeta {
        map_type: i.type_num,
        key_size: m.key_size,
        value_size: m.value_size,
        value_buf_size,
        max_entries: m.max_entries,
        flags: m.flags,
        btf_id: m.btf_id,
        btf_key_type_id: m.btf_key_type_id,
        btf_value_type_id: m.btf_value_type_id,
        cpus,
        per_cpu,
    })
}

/// The key and value types of a map from its BTF, for typed access; `null`
/// for a map without BTF.
pub fn btf_types(meta: &MapMeta) -> Result<serde_json::Value> {
    if meta.btf_id == 0 || (meta.btf_key_type_id == 0 && meta.btf_value_type_id == 0) {
        return Ok(serde_json::Value::Null);
    }
    let fd =
        smaps::btf_fd_by_id(meta.btf_id).map_err(|e| Error::sys("Cannot open the map's BTF", e))?;
    let data =
        smaps::btf_data(fd.as_fd()).map_err(|e| Error::sys("Cannot read the map's BTF", e))?;
    let btf = RawBtf::parse(data)?;
    Ok(serde_json::json!({
        "key": btf.describe(meta.btf_key_type_id),
        "value": btf.describe(meta.btf_value_type_id),
    }))
}

/// A ring buffer's pages, mapped into this process, and where it is read.
pub struct RingBuf {
    fd: OwnedFd,
    consumer: *mut u64,
    producer: *const u64,
    data: *const u8,
    mask: u64,
    page: usize,
    data_len: usize,
    pending: std::collections::VecDeque<Vec<u8>>,
}

// SAFETY: the mapped pages belong to this RingBuf alone, which is used from
// one thread at a time (behind the handle's mutex).
unsafe impl Send for RingBuf {}

impl RingBuf {
    /// Maps the ring buffer `fd` (a `ringbuf` map) for reading.
    pub fn open(fd: OwnedFd) -> Result<RingBuf> {
        let m = meta(fd.as_fd())?;
        if names::map_type(m.map_type) != "ringbuf" {
            return Err(Error::new(
                Kind::WrongKind,
                "mmap",
                format!(
                    "The map is a {}, not a ringbuf",
                    names::map_type(m.map_type)
                ),
            ));
        }
        let page = smaps::page_size();
        let size = m.max_entries as usize;
        let consumer = smaps::mmap(fd.as_fd(), page, true, 0)
            .map_err(|e| Error::sys("Cannot map the ring buffer", e))?;
        let producer = match smaps::mmap(fd.as_fd(), page + 2 * size, false, page) {
            Ok(p) => p,
            Err(e) => {
                smaps::munmap(consumer, page);
                return Err(Error::sys("Cannot map the ring buffer", e));
            }
        };
        Ok(RingBuf {
            fd,
            consumer: consumer.cast(),
            producer: producer.cast(),
            // SAFETY: the data pages start one page into the producer mapping.
            data: unsafe { producer.add(page) },
            mask: size as u64 - 1,
            page,
            data_len: page + 2 * size,
            pending: Default::default(),
        })
    }

    /// Takes every committed record, each as `u32 length` then the bytes.
    fn consume(&mut self) {
        use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
        // SAFETY: the positions are u64s in pages mapped for our lifetime;
        // the kernel writes the producer position with release semantics.
        let prod = unsafe { (*(self.producer as *const AtomicU64)).load(Ordering::Acquire) };
        let mut cons = unsafe { (*(self.consumer as *const AtomicU64)).load(Ordering::Acquire) };
        while cons < prod {
            let off = (cons & self.mask) as usize;
            // SAFETY: the header lies in the data pages (mapped twice over,
            // so a record never wraps).
            let hdr =
                unsafe { (*(self.data.add(off) as *const AtomicU32)).load(Ordering::Acquire) };
            if hdr & (1 << 31) != 0 {
                break; // still being written
            }
            let len = (hdr & !(3 << 30)) as usize;
            if hdr & (1 << 30) == 0 {
                let mut rec = Vec::with_capacity(4 + len);
                rec.extend_from_slice(&(len as u32).to_ne_bytes());
                // SAFETY: the record's bytes follow its 8-byte header.
                rec.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(self.data.add(off + 8), len)
                });
                self.pending.push_back(rec);
            }
            cons += ((len + 8 + 7) & !7) as u64;
            // SAFETY: as above; the release store hands the space back.
            unsafe { (*(self.consumer as *const AtomicU64)).store(cons, Ordering::Release) };
        }
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        smaps::munmap(self.consumer.cast(), self.page);
        smaps::munmap(self.producer as *mut u8, self.data_len);
    }
}

impl crate::kernel::handles::Source for RingBuf {
    fn next(
        &mut self,
        wake: BorrowedFd<'_>,
        timeout_ms: i32,
        room: usize,
    ) -> Result<Option<Vec<u8>>> {
        self.consume();
        if self.pending.is_empty() {
            if crate::kernel::events::wait(&[self.fd.as_fd()], wake, timeout_ms)?.is_none() {
                return Ok(None);
            }
            self.consume();
        }
        crate::kernel::events::take_lines(&mut self.pending, room).map(Some)
    }
}
