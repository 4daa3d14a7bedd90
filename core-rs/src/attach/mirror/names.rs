//! Names in the trees: each cgroup directory name encoded for bpffs (`%`
//! becomes `%25`, `.` becomes `%2E`, and each byte that is not part of
//! valid UTF-8 becomes `%XX`, reversibly: `job\xff` is `job%FF`), where a
//! rule keeps its program pinned, and the rule's name for its pins, checked.
//! Names are bytes here, never converted lossily.

use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Encodes one cgroup directory name for bpffs.
pub fn encode(name: &OsStr) -> OsString {
    let mut out = Vec::with_capacity(name.len());
    let pct = |out: &mut Vec<u8>, b: u8| out.extend_from_slice(format!("%{b:02X}").as_bytes());
    for chunk in name.as_bytes().utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            match b {
                b'%' | b'.' => pct(&mut out, b),
                _ => out.push(b),
            }
        }
        for &b in chunk.invalid() {
            pct(&mut out, b);
        }
    }
    OsString::from_vec(out)
}

/// Decodes a bpffs directory name made by [`encode`]: each `%XX` is the
/// byte `XX`.
pub fn decode(name: &OsStr) -> OsString {
    let b = name.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    OsString::from_vec(out)
}

/// The longest name a directory entry takes (`NAME_MAX`).
const NAME_MAX: usize = 255;
/// What starts a pin-tree directory that holds only the start of an encoded
/// name too long for one entry (a cgroup's 255 bytes with a '.' or a byte
/// that is not UTF-8 encode longer): the rest is in the directory below.
/// An encoded name never starts so: its '%' always starts `%XX`.
const MORE: &[u8] = b"%+";

/// The pin tree's path for the cgroup path `rel`: each name encoded, and
/// one that encodes past `NAME_MAX` split over nested directories (`%+`
/// then its start, and the rest below), never inside a `%XX` or a UTF-8
/// character.
pub fn encode_rel(rel: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in rel.iter() {
        let e = encode(c);
        let mut rest = e.as_bytes();
        while rest.len() > NAME_MAX {
            let mut cut = NAME_MAX - MORE.len();
            while rest[cut - 1] == b'%' || rest[cut - 2] == b'%' || (rest[cut] & 0xc0) == 0x80 {
                cut -= 1;
            }
            out.push(OsStr::from_bytes(&[MORE, &rest[..cut]].concat()));
            rest = &rest[cut..];
        }
        out.push(OsStr::from_bytes(rest));
    }
    out
}

/// The cgroup path of the pin tree's path `rel`, made by [`encode_rel`].
pub(super) fn decode_rel(rel: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let mut start = Vec::new();
    for c in rel.iter() {
        if let Some(part) = c.as_bytes().strip_prefix(MORE) {
            start.extend_from_slice(part);
            continue;
        }
        start.extend_from_slice(c.as_bytes());
        out.push(decode(OsStr::from_bytes(&start)));
        start.clear();
    }
    if !start.is_empty() {
        out.push(decode(OsStr::from_bytes(&start)));
    }
    out
}

/// Where an attach rule keeps its program pinned, for the watcher.
pub fn prog_pin(pin_root: &Path, name: &str) -> PathBuf {
    // '%' never starts an encoded cgroup name, so this cannot collide.
    pin_root.join(format!("%prog-{name}"))
}

pub(super) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name.contains('.') {
        return Err(Error::invalid(
            "attach",
            format!(
                "Invalid name \"{name}\" for the pins of the rule: use a plain name without '/' or '.' (bpffs refuses '.')"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_encode_reversibly() {
        let names: [&[u8]; 8] = [
            b"plain",
            b"a.b",
            b"100%",
            b"x.%2E.y",
            b"%2E",
            b"job\xff",
            "job\u{fffd}".as_bytes(),
            b"\xc3.\xe2\x82%",
        ];
        for n in names {
            let n = OsStr::from_bytes(n);
            let e = encode(n);
            assert!(!e.as_bytes().contains(&b'.'), "{e:?}");
            assert!(e.to_str().is_some(), "{e:?}");
            assert_eq!(decode(&e), n);
        }
        assert_eq!(encode(OsStr::new("app.slice")), "app%2Eslice");
        assert_eq!(encode(OsStr::from_bytes(b"job\xff")), "job%FF");
        assert_ne!(
            encode(OsStr::from_bytes(b"job\xff")),
            encode(OsStr::new("job\u{fffd}"))
        );
        assert_eq!(
            decode_rel(&encode_rel(Path::new("a.slice/b.scope"))),
            PathBuf::from("a.slice/b.scope")
        );
    }

    #[test]
    fn names_past_name_max_once_encoded_split_over_directories() {
        let dots = format!("job{}", ".".repeat(200));
        let bytes: Vec<u8> = [b"a".as_slice(), &[0xff; 254]].concat();
        let utf8 = format!("{}{}", ".".repeat(84), "\u{e9}".repeat(85));
        for name in [
            OsStr::new(&dots),
            OsStr::from_bytes(&bytes),
            OsStr::new(&utf8),
        ] {
            let rel = Path::new("top").join(name).join("child.x");
            let e = encode_rel(&rel);
            for c in e.iter() {
                assert!(c.len() <= NAME_MAX, "{} bytes", c.len());
                assert!(c.to_str().is_some(), "{c:?}");
                assert!(!c.as_bytes().contains(&b'.'), "{c:?}");
            }
            assert!(e.iter().count() > 3, "{e:?}");
            assert_eq!(decode_rel(&e), rel);
        }
        let short = Path::new("a.b/c");
        assert_eq!(encode_rel(short), PathBuf::from("a%2Eb/c"));
        assert_eq!(decode_rel(&encode_rel(short)), short);
    }

    #[test]
    fn view_names_are_checked() {
        assert!(check_name("stat").is_ok());
        assert!(check_name("a.b").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }
}
