//! Names as bytes. A cgroup's or a file's name is whatever bytes its
//! creator chose, not always UTF-8; bpfx carries it as an `OsStr` from the
//! directory walk and the fanotify parse to the kernel calls, and never
//! through a lossy conversion (`job\xff` and `job\u{FFFD}` are two names).
//!
//! In JSON a name is a string, with each byte that is not part of valid
//! UTF-8 written as a lone low surrogate `\udcXX` (`XX` the byte), as
//! Python's `surrogateescape` does: `job\xff` is `"job\udcff"`, and
//! `nameBytes()` in TypeScript gives the bytes back. serde's strings cannot
//! hold a lone surrogate, so [`json`] marks each such byte with
//! [`MARK`] and two hex digits (a `MARK` of the name's own doubled), and
//! [`surrogates`] turns the marks of an encoded JSON document into escapes:
//! every JSON the core hands out passes through it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A noncharacter that marks an escaped byte in a name's JSON text before
/// [`surrogates`] writes the escape.
pub const MARK: char = '\u{fdd0}';
const MARK_UTF8: [u8; 3] = [0xef, 0xb7, 0x90];

/// The text of `name` for a JSON string: its UTF-8 as it is, each other
/// byte marked for [`surrogates`].
pub fn json(name: &OsStr) -> String {
    let mut out = String::with_capacity(name.len());
    for chunk in name.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            out.push(c);
            if c == MARK {
                out.push(MARK);
            }
        }
        for b in chunk.invalid() {
            out.push(MARK);
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// [`json`] of a path.
pub fn json_path(path: &Path) -> String {
    json(path.as_os_str())
}

/// Serializes a path as [`json_path`] writes it (`serialize_with`).
pub fn ser_path<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&json_path(path))
}

/// Serializes a path that may be missing as [`json_path`] writes it.
pub fn ser_opt_path<S: serde::Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => s.serialize_some(&json_path(p)),
        None => s.serialize_none(),
    }
}

/// An encoded JSON document with each mark of [`json`] written as the
/// escape `\udcXX`, and each doubled mark as the name's own character.
pub fn surrogates(doc: Vec<u8>) -> Vec<u8> {
    if !doc.windows(3).any(|w| w == MARK_UTF8) {
        return doc;
    }
    let mut out = Vec::with_capacity(doc.len() + 16);
    let mut i = 0;
    while i < doc.len() {
        if doc[i..].starts_with(&MARK_UTF8) {
            let rest = &doc[i + 3..];
            if rest.starts_with(&MARK_UTF8) {
                out.extend_from_slice(&MARK_UTF8);
                i += 6;
                continue;
            }
            if rest.len() >= 2 && rest[..2].iter().all(u8::is_ascii_hexdigit) {
                out.extend_from_slice(b"\\udc");
                out.extend_from_slice(&rest[..2]);
                i += 5;
                continue;
            }
        }
        out.push(doc[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &[u8]) -> String {
        let v = serde_json::json!({ "cgroup": json(OsStr::from_bytes(name)) });
        String::from_utf8(surrogates(serde_json::to_vec(&v).unwrap())).unwrap()
    }

    #[test]
    fn names_that_are_not_utf8_become_surrogate_escapes() {
        assert_eq!(doc(b"job\xff"), r#"{"cgroup":"job\udcff"}"#);
        assert_eq!(
            doc("job\u{fffd}".as_bytes()),
            "{\"cgroup\":\"job\u{fffd}\"}"
        );
        assert_eq!(
            doc(b"a\xc3b\xe2\x82"),
            r#"{"cgroup":"a\udcc3b\udce2\udc82"}"#
        );
        // The mark itself, and a mark followed by hex digits, stay as they are.
        let own = "x\u{fdd0}ff\u{fdd0}";
        assert_eq!(doc(own.as_bytes()), format!("{{\"cgroup\":\"{own}\"}}"));
        assert_eq!(doc(b"plain"), r#"{"cgroup":"plain"}"#);
    }
}
