//! fanotify in FID mode with directory events and names: marks, reading,
//! and turning each event into a path.
//!
//! On bpffs only inode marks work (the filesystem mark is refused), so each
//! watched directory is marked, and its file handle is remembered to name
//! the events it reports. On cgroupfs one filesystem mark covers the tree,
//! and a reported directory is named by opening its handle.

use crate::error::{Error, Result, q};
use crate::sys::{self, fs};
use serde::Serialize;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd as _, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub const FAN_CREATE: u64 = 0x100;
pub const FAN_DELETE: u64 = 0x200;
pub const FAN_MOVED_FROM: u64 = 0x40;
pub const FAN_MOVED_TO: u64 = 0x80;
pub const FAN_DELETE_SELF: u64 = 0x400;
pub const FAN_MOVE_SELF: u64 = 0x800;
pub const FAN_CLOSE_WRITE: u64 = 0x8;
pub const FAN_MODIFY: u64 = 0x2;
pub const FAN_EVENT_ON_CHILD: u64 = 0x0800_0000;
pub const FAN_Q_OVERFLOW: u64 = 0x4000;
pub const FAN_ONDIR: u64 = 0x4000_0000;
const FAN_CLOEXEC: u32 = 0x1;
const FAN_NONBLOCK: u32 = 0x2;
const FAN_REPORT_DFID_NAME: u32 = 0x400 | 0x800;
const FAN_MARK_ADD: u32 = 0x1;
const FAN_MARK_ONLYDIR: u32 = 0x8;
const FAN_MARK_FILESYSTEM: u32 = 0x100;
const INFO_FID: u8 = 1;
const INFO_DFID_NAME: u8 = 2;
const INFO_DFID: u8 = 3;
/// How many directory paths [`Fan`] remembers.
const SEEN_MAX: usize = 65_536;

/// The events bpfx watches directories for.
pub const DIR_EVENTS: u64 = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_ONDIR;

/// One event as read: the mask, the directory's handle and the name in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub mask: u64,
    pub handle_type: i32,
    pub handle: Vec<u8>,
    /// The entry's name's bytes (not always UTF-8).
    pub name: std::ffi::OsString,
}

/// Parses a buffer read from a FID-mode fanotify fd.
pub fn parse(buf: &[u8]) -> Vec<RawEvent> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 24 <= buf.len() {
        let event_len = u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4")) as usize;
        let meta_len = u16::from_ne_bytes(buf[off + 6..off + 8].try_into().expect("2")) as usize;
        if event_len < 24 || off + event_len > buf.len() {
            break;
        }
        let mask = u64::from_ne_bytes(buf[off + 8..off + 16].try_into().expect("8"));
        let mut ev = RawEvent {
            mask,
            handle_type: 0,
            handle: Vec::new(),
            name: std::ffi::OsString::new(),
        };
        let mut info = off + meta_len;
        while info + 4 <= off + event_len {
            let ty = buf[info];
            let len = u16::from_ne_bytes(buf[info + 2..info + 4].try_into().expect("2")) as usize;
            if len < 4 || info + len > off + event_len {
                break;
            }
            if (ty == INFO_DFID_NAME || ty == INFO_DFID || ty == INFO_FID) && len >= 4 + 8 + 8 {
                let fh = info + 4 + 8; // after the header and the fsid
                let hlen = u32::from_ne_bytes(buf[fh..fh + 4].try_into().expect("4")) as usize;
                let htype = i32::from_ne_bytes(buf[fh + 4..fh + 8].try_into().expect("4"));
                let hstart = fh + 8;
                if hstart + hlen <= info + len {
                    ev.handle_type = htype;
                    ev.handle = buf[hstart..hstart + hlen].to_vec();
                    if ty == INFO_DFID_NAME {
                        let name = &buf[hstart + hlen..info + len];
                        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                        ev.name = std::ffi::OsStr::from_bytes(&name[..end]).to_os_string();
                    }
                }
            }
            info += len;
        }
        out.push(ev);
        off += event_len;
    }
    out
}

/// The cgroup id a cgroupfs (kernfs) file handle names: kernfs encodes the
/// node id, which is the cgroup's id, as 8 bytes of type `FILEID_KERNFS`.
pub fn kernfs_id(ev: &RawEvent) -> Option<u64> {
    const FILEID_KERNFS: i32 = 0xfe;
    (ev.handle_type == FILEID_KERNFS && ev.handle.len() == 8)
        .then(|| u64::from_ne_bytes(ev.handle[..8].try_into().expect("8")))
}

/// What happened, named by path.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    /// `created`, `deleted`, `moved-from`, `moved-to`, `deleted-self`,
    /// `moved-self` (of a marked directory), `written` (a file opened for
    /// writing was closed), `modified` (a file was written, or a kernfs
    /// file such as `cgroup.events` changed), or `overflow` (events were
    /// lost: rescan).
    pub event: &'static str,
    /// Its bytes (in JSON, as `fs::names` writes them).
    #[serde(serialize_with = "crate::fs::names::ser_opt_path")]
    pub path: Option<PathBuf>,
    pub dir: bool,
}

/// A fanotify group and the directories it watches.
pub struct Fan {
    fd: OwnedFd,
    /// Handle of each inode-marked directory, to its path.
    marked: HashMap<(i32, Vec<u8>), PathBuf>,
    /// For filesystem marks: an fd on each marked filesystem, to open handles.
    mounts: Vec<OwnedFd>,
    /// Paths of directories opened by handle, for events that arrive after
    /// their directory is gone.
    seen: HashMap<(i32, Vec<u8>), PathBuf>,
    buf: Vec<u8>,
}

fn init_error(e: sys::SysError) -> Error {
    Error::sys("Cannot start fanotify", e)
        .with_hint("fanotify needs root (CAP_SYS_ADMIN) and a kernel with FID reporting (5.9+)")
}

impl Fan {
    pub fn new() -> Result<Fan> {
        let fd = sys::fanotify_init(
            FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
            libc::O_RDONLY as u32,
        )
        .map_err(init_error)?;
        Ok(Fan {
            fd,
            marked: HashMap::new(),
            mounts: Vec::new(),
            seen: HashMap::new(),
            buf: vec![0u8; 64 * 1024],
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Marks directory `dir` itself (an inode mark).
    pub fn mark_dir(&mut self, dir: &Path) -> Result<()> {
        self.mark_dir_for(dir, DIR_EVENTS)
    }

    /// Marks directory `dir` itself for `mask`.
    pub fn mark_dir_for(&mut self, dir: &Path, mask: u64) -> Result<()> {
        let key = fs::handle_of(dir)
            .map_err(|e| Error::sys(format!("Cannot watch {}", q(dir)), e).with_path(dir))?;
        if self.marked.contains_key(&key) {
            return Ok(());
        }
        sys::fanotify_mark(self.fd.as_fd(), FAN_MARK_ADD | FAN_MARK_ONLYDIR, mask, dir)
            .map_err(|e| Error::sys(format!("Cannot watch {}", q(dir)), e).with_path(dir))?;
        self.marked.insert(key, dir.to_path_buf());
        Ok(())
    }

    /// Forgets the mark on `dir` (its inode is gone or replaced); the
    /// kernel drops an inode's marks with the inode.
    pub fn forget(&mut self, dir: &Path) {
        self.marked.retain(|_, p| p != dir);
    }

    /// Whether `dir` is marked.
    pub fn is_marked(&self, dir: &Path) -> bool {
        self.marked.values().any(|p| p == dir)
    }

    /// Marks the whole filesystem `path` is on.
    pub fn mark_filesystem(&mut self, path: &Path) -> Result<()> {
        // Resolved once into an fd, which is marked (through its procfs
        // name) and kept: it holds the mount while the mark lives, and
        // events' file handles are opened on it (`open_by_handle_at` takes
        // no O_PATH fd).
        let mount = fs::openat2(None, path, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .map_err(|e| Error::sys(format!("Cannot open {}", q(path)), e).with_path(path))?;
        let at = PathBuf::from(format!("/proc/self/fd/{}", mount.as_raw_fd()));
        sys::fanotify_mark(
            self.fd.as_fd(),
            FAN_MARK_ADD | FAN_MARK_FILESYSTEM,
            DIR_EVENTS,
            &at,
        )
        .map_err(|e| {
            Error::sys(format!("Cannot watch the filesystem of {}", q(path)), e).with_path(path)
        })?;
        self.mounts.push(mount);
        Ok(())
    }

    /// The directory a handle names: a marked one, or one opened by handle,
    /// or (when it is already gone) the path it had when last seen.
    fn dir_of(&mut self, ev: &RawEvent) -> Option<PathBuf> {
        let key = (ev.handle_type, ev.handle.clone());
        if let Some(p) = self.marked.get(&key) {
            return Some(p.clone());
        }
        let opened = self.mounts.iter().find_map(|m| {
            let fd = fs::open_by_handle(m.as_fd(), ev.handle_type, &ev.handle).ok()?;
            fs::fd_path(fd.as_fd()).ok()
        });
        match opened {
            Some(p) => {
                if self.seen.len() >= SEEN_MAX {
                    self.seen.clear();
                }
                self.seen.insert(key, p.clone());
                Some(p)
            }
            None => self.seen.get(&key).cloned(),
        }
    }

    /// Reads what is queued now (never blocks), as events named by path.
    pub fn read(&mut self) -> Result<Vec<Event>> {
        self.read_filtered(|_| true)
    }

    /// As [`Fan::read`], but an event `keep` refuses is dropped before any
    /// lookup (no `open_by_handle_at`, no readlink): the cheap way past the
    /// events of a filesystem mark that no rule covers.
    pub fn read_filtered(&mut self, keep: impl Fn(&RawEvent) -> bool) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        loop {
            let n = fs::read_some(self.fd.as_fd(), &mut self.buf)
                .map_err(|e| Error::sys("Cannot read fanotify events", e))?;
            if n == 0 {
                return Ok(out);
            }
            let raw = parse(&self.buf[..n]);
            for ev in raw {
                if ev.mask & FAN_Q_OVERFLOW != 0 {
                    out.push(Event {
                        event: "overflow",
                        path: None,
                        dir: false,
                    });
                    continue;
                }
                if !keep(&ev) {
                    continue;
                }
                let dir = ev.mask & FAN_ONDIR != 0;
                let path = self.dir_of(&ev).map(|d| {
                    if ev.name.is_empty() {
                        d
                    } else {
                        d.join(&ev.name)
                    }
                });
                for (bit, name) in [
                    (FAN_CREATE, "created"),
                    (FAN_DELETE, "deleted"),
                    (FAN_MOVED_FROM, "moved-from"),
                    (FAN_MOVED_TO, "moved-to"),
                    (FAN_DELETE_SELF, "deleted-self"),
                    (FAN_MOVE_SELF, "moved-self"),
                    (FAN_CLOSE_WRITE, "written"),
                    (FAN_MODIFY, "modified"),
                ] {
                    if ev.mask & bit != 0 {
                        out.push(Event {
                            event: name,
                            path: path.clone(),
                            dir,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event record with one DFID_NAME info record.
    fn record(mask: u64, handle: &[u8], name: &str) -> Vec<u8> {
        let mut info = vec![INFO_DFID_NAME, 0, 0, 0];
        info.extend_from_slice(&[0u8; 8]); // fsid
        info.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        info.extend_from_slice(&1i32.to_ne_bytes());
        info.extend_from_slice(handle);
        info.extend_from_slice(name.as_bytes());
        info.push(0);
        while info.len() % 4 != 0 {
            info.push(0);
        }
        let ilen = info.len() as u16;
        info[2..4].copy_from_slice(&ilen.to_ne_bytes());
        let mut r = Vec::new();
        r.extend_from_slice(&((24 + info.len()) as u32).to_ne_bytes());
        r.extend_from_slice(&[3, 0]);
        r.extend_from_slice(&24u16.to_ne_bytes());
        r.extend_from_slice(&mask.to_ne_bytes());
        r.extend_from_slice(&(-1i32).to_ne_bytes());
        r.extend_from_slice(&0i32.to_ne_bytes());
        r.extend_from_slice(&info);
        r
    }

    #[test]
    fn parse_reads_mask_handle_and_name() {
        let mut buf = record(FAN_CREATE | FAN_ONDIR, &[1, 2, 3, 4, 5, 6, 7, 8], "child");
        buf.extend(record(FAN_DELETE, &[9, 9], "pin"));
        let evs = parse(&buf);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].mask, FAN_CREATE | FAN_ONDIR);
        assert_eq!(evs[0].handle, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(evs[0].handle_type, 1);
        assert_eq!(evs[0].name, "child");
        assert_eq!(evs[1].name, "pin");
        assert!(
            parse(&buf[..10]).is_empty(),
            "a short buffer yields nothing"
        );
    }

    #[test]
    fn a_kernfs_handle_names_its_cgroup_id() {
        let ev = |ty: i32, handle: Vec<u8>| RawEvent {
            mask: FAN_CREATE,
            handle_type: ty,
            handle,
            name: "x".into(),
        };
        assert_eq!(kernfs_id(&ev(0xfe, 42u64.to_ne_bytes().to_vec())), Some(42));
        assert_eq!(kernfs_id(&ev(1, 42u64.to_ne_bytes().to_vec())), None);
        assert_eq!(kernfs_id(&ev(0xfe, vec![1, 2, 3])), None);
    }

    #[test]
    fn the_handle_of_a_cgroup_directory_is_its_id() {
        use std::os::unix::fs::MetadataExt as _;
        let Ok(Some(root)) = crate::fs::mounts::cgroup2() else {
            return; // no cgroup2 here: nothing to compare
        };
        let (ty, handle) = fs::handle_of(Path::new(&root)).unwrap();
        let ev = RawEvent {
            mask: FAN_CREATE,
            handle_type: ty,
            handle,
            name: std::ffi::OsString::new(),
        };
        assert_eq!(
            kernfs_id(&ev),
            Some(std::fs::metadata(&root).unwrap().ino()),
            "the watcher's event filter relies on it"
        );
    }
}
