//! Open objects held for the TypeScript side, by opaque id. Each handle owns
//! its fd; `close` drops it. The count lets tests check nothing leaks.
//!
//! A handle holds either a BPF object (program, map, link), a reader (a
//! view's, through the [`Readable`] trait of this level), or an event
//! source. Readers are shared (`Arc`), so a blocking read runs without the
//! table's lock, and a `close` during a read takes effect when it returns.

use crate::error::{Error, Kind, Result};
use crate::kernel::info::ObjKind;
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub enum Held {
    Obj {
        /// Shared, so that map calls run without the table's lock.
        fd: Arc<OwnedFd>,
        kind: ObjKind,
        /// For a map, what the data lane checks buffers against.
        map: Option<crate::kernel::maps::MapMeta>,
    },
    Reader(Arc<dyn Readable>),
    /// A source of events (raw fanotify events, or the watcher's actions),
    /// with the eventfd that wakes a blocked wait.
    Source {
        source: Arc<Mutex<dyn Source>>,
        wake: Arc<OwnedFd>,
    },
}

/// Something the data lane reads into a caller's buffer, such as a view
/// (the attach part's `views::Reader`).
pub trait Readable: Send + Sync {
    /// Fills `buf` (or reaches the end); returns the count, and the error of
    /// a read cut short after earlier bytes (which the next call returns).
    fn read(&self, buf: &mut [u8]) -> Result<(usize, Option<Error>)>;
}

/// Something a `nonblocking` call waits on: [`Source::next`] blocks until
/// there is something to report or `wake` is signalled.
pub trait Source: Send {
    /// Waits up to `timeout_ms` and returns JSON lines to hand out (maybe
    /// none); `Ok(None)` once woken to stop.
    fn next(
        &mut self,
        wake: BorrowedFd<'_>,
        timeout_ms: i32,
        room: usize,
    ) -> Result<Option<Vec<u8>>>;
}

pub struct Handle {
    pub held: Held,
    pub path: Option<PathBuf>,
}

static NEXT: AtomicU32 = AtomicU32::new(1);
static TABLE: Mutex<Option<HashMap<u32, Handle>>> = Mutex::new(None);

fn table() -> MutexGuard<'static, Option<HashMap<u32, Handle>>> {
    // A panic while holding the lock cannot leave the map half-updated.
    TABLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stores `h` and returns its id (never 0).
pub fn insert(h: Handle) -> u32 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    table().get_or_insert_with(HashMap::new).insert(id, h);
    id
}

/// Closes handle `id`; false if there was no such handle.
pub fn close(id: u32) -> bool {
    let removed = table().as_mut().and_then(|t| t.remove(&id));
    removed.is_some() // the fd closes as `removed` drops
}

/// How many handles are open.
pub fn count() -> usize {
    table().as_ref().map_or(0, HashMap::len)
}

fn not_open(id: u32) -> Error {
    Error::new(
        Kind::Invalid,
        "handle",
        format!("Handle {id} is not open: it was closed or never existed"),
    )
}

/// The handle `id` in the locked table.
fn get(guard: &Option<HashMap<u32, Handle>>, id: u32) -> Result<&Handle> {
    guard
        .as_ref()
        .and_then(|t| t.get(&id))
        .ok_or_else(|| not_open(id))
}

fn not_a(id: u32, what: &str) -> Error {
    Error::new(
        Kind::WrongKind,
        "handle",
        format!("Handle {id} is not {what}"),
    )
}

/// Runs `f` on object handle `id`'s fd, kind and path.
pub fn with<T>(
    id: u32,
    f: impl FnOnce(BorrowedFd<'_>, ObjKind, Option<&PathBuf>) -> Result<T>,
) -> Result<T> {
    let guard = table();
    let h = get(&guard, id)?;
    match &h.held {
        Held::Obj { fd, kind, .. } => f(fd.as_fd(), *kind, h.path.as_ref()),
        _ => Err(not_a(id, "a BPF object")),
    }
}

/// Runs `f` on map handle `id`'s fd and meta.
pub fn with_map<T>(
    id: u32,
    f: impl FnOnce(BorrowedFd<'_>, &crate::kernel::maps::MapMeta) -> T,
) -> Option<T> {
    // Take a share of the fd under the lock, and call without it: a close
    // meanwhile takes effect when the call returns (the fd stays open).
    let (fd, meta) = {
        let guard = table();
        match guard.as_ref().and_then(|t| t.get(&id)).map(|h| &h.held) {
            Some(Held::Obj {
                fd,
                map: Some(meta),
                ..
            }) => (Arc::clone(fd), *meta),
            _ => return None,
        }
    };
    Some(f(fd.as_fd(), &meta))
}

/// The reader behind handle `id`, shared.
pub fn reader(id: u32) -> Result<Arc<dyn Readable>> {
    let guard = table();
    let h = get(&guard, id)?;
    match &h.held {
        Held::Reader(f) => Ok(Arc::clone(f)),
        _ => Err(not_a(id, "a view reader")),
    }
}

type SourceParts = (Arc<Mutex<dyn Source>>, Arc<OwnedFd>);

/// The event source behind handle `id`, and its wake fd.
pub fn source(id: u32) -> Result<SourceParts> {
    let guard = table();
    let h = get(&guard, id)?;
    match &h.held {
        Held::Source { source, wake } => Ok((Arc::clone(source), Arc::clone(wake))),
        _ => Err(not_a(id, "an event source")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    #[test]
    fn insert_count_close_twice() {
        let fd: OwnedFd = File::open("/dev/null").unwrap().into();
        let id = insert(Handle {
            held: Held::Obj {
                fd: Arc::new(fd),
                kind: ObjKind::Map,
                map: None,
            },
            path: None,
        });
        assert_ne!(id, 0);
        assert!(with(id, |_, k, _| Ok(k == ObjKind::Map)).unwrap());
        assert_eq!(reader(id).err().unwrap().kind, Kind::WrongKind);
        assert!(close(id));
        assert!(!close(id), "closing twice is harmless and reports false");
        assert_eq!(with(id, |_, _, _| Ok(())).unwrap_err().kind, Kind::Invalid);
    }

    /// A file read whole, for the table's own tests.
    struct Whole(File);

    impl Readable for Whole {
        fn read(&self, buf: &mut [u8]) -> Result<(usize, Option<Error>)> {
            use std::io::Read as _;
            let n = (&self.0)
                .read(buf)
                .map_err(|e| Error::io("read", "read", &e))?;
            Ok((n, None))
        }
    }

    #[test]
    fn a_reader_outlives_close_while_in_use() {
        let id = insert(Handle {
            held: Held::Reader(Arc::new(Whole(File::open("/dev/null").unwrap()))),
            path: None,
        });
        let f = reader(id).unwrap();
        assert!(close(id));
        let mut buf = [0u8; 4];
        let (n, cut_short) = f.read(&mut buf).unwrap();
        assert!(
            n == 0 && cut_short.is_none(),
            "the shared file is still readable"
        );
    }
}
