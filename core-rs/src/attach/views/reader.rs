//! Reading a view through the data lane: the view opened and checked by its
//! descriptor, reads that lose nothing when one is cut short, and what a
//! failed read means.

use crate::error::{Error, Kind, Result, q};
use crate::kernel::info::{self, Detail, ObjKind};
use crate::kernel::pins;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

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

/// The whole text of the view at `path` (one run of its program), invalid
/// UTF-8 replaced: at most `max` bytes, else an error saying so.
pub fn read_text(path: &Path, max: usize) -> Result<String> {
    let reader = open_reader(path)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, cut) = reader.read(&mut buf)?;
        if let Some(e) = cut {
            return Err(e);
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > max {
            return Err(Error::invalid(
                "read",
                format!("View {} gives more than {max} bytes", q(path)),
            ));
        }
        if n < buf.len() {
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;

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
}
