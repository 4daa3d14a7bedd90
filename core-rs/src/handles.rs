//! Open objects held for the TypeScript side, by opaque id. Each handle owns
//! its fd; `close` drops it. The count lets tests check nothing leaks.

use crate::error::{Error, Kind, Result};
use crate::info::ObjKind;
use std::collections::HashMap;
use std::os::fd::{BorrowedFd, OwnedFd, AsFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

pub struct Handle {
    pub fd: OwnedFd,
    pub kind: ObjKind,
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

/// Runs `f` on handle `id`'s fd, kind and path.
pub fn with<T>(id: u32, f: impl FnOnce(BorrowedFd<'_>, ObjKind, Option<&PathBuf>) -> Result<T>) -> Result<T> {
    let guard = table();
    let h = guard.as_ref().and_then(|t| t.get(&id)).ok_or_else(|| {
        Error::new(Kind::Invalid, "handle", format!("Handle {id} is not open: it was closed or never existed"))
    })?;
    f(h.fd.as_fd(), h.kind, h.path.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_count_close_twice() {
        let before = count();
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let id = insert(Handle { fd, kind: ObjKind::Map, path: None });
        assert_ne!(id, 0);
        assert_eq!(count(), before + 1);
        assert!(with(id, |_, k, _| Ok(k == ObjKind::Map)).unwrap());
        assert!(close(id));
        assert!(!close(id), "closing twice is harmless and reports false");
        assert_eq!(count(), before);
        assert_eq!(with(id, |_, _, _| Ok(())).unwrap_err().kind, Kind::Invalid);
    }
}
