//! Raw filesystem events as a source for the data lane: the directories
//! (inode marks) or filesystems (filesystem marks) a caller names.

use crate::error::Result;
use crate::fs::fanotify::{DIR_EVENTS, FAN_CLOSE_WRITE, FAN_EVENT_ON_CHILD, Fan};
use crate::kernel::handles::Source;
use crate::sys::fs;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;

pub struct Events {
    fan: Fan,
    pending: std::collections::VecDeque<Vec<u8>>,
}

/// Watches `paths`: each directory itself (with `written`, also the files
/// in it closed after a write: an edit in place), or with `filesystem` the
/// whole filesystem each is on.
pub fn open(paths: &[PathBuf], filesystem: bool, written: bool) -> Result<Events> {
    let mut fan = Fan::new()?;
    let mask = if written {
        DIR_EVENTS | FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD
    } else {
        DIR_EVENTS
    };
    for p in paths {
        if filesystem {
            fan.mark_filesystem(p)?
        } else {
            fan.mark_dir_for(p, mask)?
        }
    }
    Ok(Events {
        fan,
        pending: Default::default(),
    })
}

/// Hands out queued lines while they fit in `room` (at least one).
/// A record larger than `room` stays queued, and the error says the room it
/// needs, so the caller can grow its buffer and call again.
pub fn take_lines(
    pending: &mut std::collections::VecDeque<Vec<u8>>,
    room: usize,
) -> Result<Vec<u8>> {
    if let Some(first) = pending.front()
        && first.len() > room
    {
        return Err(crate::error::Error::invalid(
            "next",
            format!(
                "The next record needs {} bytes; the buffer has {room}",
                first.len()
            ),
        ));
    }
    let mut out = Vec::new();
    while let Some(line) = pending.front() {
        if !out.is_empty() && out.len() + line.len() > room {
            break;
        }
        out.extend_from_slice(line);
        pending.pop_front();
    }
    Ok(out)
}

/// Waits up to `timeout_ms` for input on `fds` or `wake`: which of `fds`
/// are readable, or `None` once `wake` fired. Every source waits this way,
/// so that `bpfx_wake` ends any wait.
pub fn wait(
    fds: &[BorrowedFd<'_>],
    wake: BorrowedFd<'_>,
    timeout_ms: i32,
) -> Result<Option<Vec<bool>>> {
    let mut all = fds.to_vec();
    all.push(wake);
    let mut ready = fs::poll_in(&all, timeout_ms)
        .map_err(|e| crate::error::Error::sys("Cannot wait for events", e))?;
    if ready.pop() == Some(true) {
        return Ok(None);
    }
    Ok(Some(ready))
}

impl Source for Events {
    fn next(
        &mut self,
        wake: BorrowedFd<'_>,
        timeout_ms: i32,
        room: usize,
    ) -> Result<Option<Vec<u8>>> {
        if self.pending.is_empty() {
            if wait(&[self.fan.fd()], wake, timeout_ms)?.is_none() {
                return Ok(None);
            }
            for ev in self.fan.read()? {
                // A name that is not UTF-8 leaves as `\udcXX` escapes.
                let mut line =
                    crate::fs::names::surrogates(serde_json::to_vec(&ev).unwrap_or_default());
                line.push(b'\n');
                self.pending.push_back(line);
            }
        }
        take_lines(&mut self.pending, room).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_lines_fills_the_room_and_keeps_an_oversized_record() {
        let mut q: std::collections::VecDeque<Vec<u8>> =
            vec![b"ab\n".to_vec(), b"cd\n".to_vec(), vec![b'x'; 10]].into();
        assert_eq!(take_lines(&mut q, 6).unwrap(), b"ab\ncd\n");
        let e = take_lines(&mut q, 4).unwrap_err();
        assert_eq!(
            e.message,
            "The next record needs 10 bytes; the buffer has 4"
        );
        assert_eq!(q.len(), 1, "the record stays queued");
        assert_eq!(take_lines(&mut q, 10).unwrap().len(), 10);
    }
}
