//! The core's one error type. Every error names the verb, the object and the
//! cause; `kind` is what callers test for, and the ABI sends all of it as JSON.

use crate::sys::SysError;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    NotFound,
    Exists,
    Permission,
    NotBpffs,
    WrongKind,
    Verifier,
    Elf,
    Incompatible,
    NotSupported,
    Invalid,
    Busy,
    Os,
    Internal,
}

/// An error on its way to the caller: boxed, so `Result`s stay small.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Error(Box<ErrorData>);

impl std::ops::Deref for Error {
    type Target = ErrorData;
    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorData {
        &mut self.0
    }
}

/// What an error says.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorData {
    pub kind: Kind,
    /// The syscall or verb that failed (`BPF_OBJ_PIN`, `parse`, ...).
    pub op: String,
    /// The positive errno, or 0.
    pub errno: i32,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A short, lowercase description of an errno, as `strerror` would give.
pub fn describe_errno(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    // "No such file or directory (os error 2)" -> "no such file or directory"
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// The kind an errno maps to.
pub fn kind_of_errno(errno: i32) -> Kind {
    match errno {
        libc::ENOENT => Kind::NotFound,
        libc::EEXIST => Kind::Exists,
        libc::EPERM | libc::EACCES => Kind::Permission,
        libc::EOPNOTSUPP | libc::ENOSYS => Kind::NotSupported,
        libc::EBUSY => Kind::Busy,
        libc::EINVAL | libc::E2BIG => Kind::Invalid,
        _ => Kind::Os,
    }
}

/// What doctor and the load path call a refusal by policy: `BPF_PROG_LOAD`
/// failed with EPERM before the verifier processed any instruction.
pub const REFUSED_BEFORE_VERIFICATION: &str = "eperm-before-verification";

/// Whether a failed `BPF_PROG_LOAD` was refused before verification: EPERM,
/// with a verifier log that is empty or only says "processed 0 insns" (with
/// the stats lines, "verification time" and "stack depth 0"). The
/// verifier's own refusals say why in the log (and mostly give EACCES or
/// EINVAL); a security policy (an LSM's `bpf_prog_load` hook, for one)
/// refuses before the verifier looks at the program.
pub fn refused_before_verification(errno: i32, log: &str) -> bool {
    errno == libc::EPERM
        && log
            .lines()
            .map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == '\0'))
            .filter(|l| !l.is_empty())
            .all(|l| {
                // The summary the verifier writes with log level 1 or stats
                // (level 4) when it stops before the first instruction.
                ["processed 0 insns", "verification time ", "stack depth 0"]
                    .iter()
                    .any(|s| l.starts_with(s))
            })
}

const PRIVILEGE_HINT: &str =
    "run as root, or with CAP_BPF and CAP_SYS_ADMIN (check with `bpfx doctor`)";

impl Error {
    pub fn new(kind: Kind, op: impl Into<String>, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorData {
            kind,
            op: op.into(),
            errno: 0,
            message: message.into(),
            path: None,
            log: None,
            feature: None,
            hint: None,
        }))
    }

    pub fn invalid(op: &str, message: impl Into<String>) -> Self {
        Error::new(Kind::Invalid, op, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(Kind::Internal, "internal", message)
    }

    /// An error from a syscall, while doing `what` (a sentence start such as
    /// `Cannot open pin "/x"`).
    pub fn sys(what: impl Into<String>, err: SysError) -> Self {
        Error::from_errno(what, err.op, err.errno())
    }

    /// An error from an errno, while doing `what`.
    pub fn from_errno(what: impl Into<String>, op: &str, errno: i32) -> Self {
        let kind = kind_of_errno(errno);
        let mut e = Error::new(
            kind,
            op,
            format!("{}: {}", what.into(), describe_errno(errno)),
        );
        e.errno = errno;
        if kind == Kind::Permission {
            e.hint = Some(PRIVILEGE_HINT.into());
        }
        e
    }

    /// An error from `std::io`, while doing `what`.
    pub fn io(what: impl Into<String>, op: &str, err: &std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(errno) => Error::from_errno(what, op, errno),
            None => Error::new(Kind::Os, op, format!("{}: {}", what.into(), err)),
        }
    }

    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.display().to_string());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_errno(mut self, errno: i32) -> Self {
        self.errno = errno;
        self
    }

    pub fn with_op(mut self, op: impl Into<String>) -> Self {
        self.op = op.into();
        self
    }
}

/// Quotes a path for a message: `"/sys/fs/bpf/x"`.
pub fn q(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    if let Ok(s) = std::str::from_utf8(bytes) {
        return format!("{s:?}");
    }
    // A byte that is not part of valid UTF-8 is shown as `\xNN`, so that
    // `job\xff` and `job\u{FFFD}` read apart.
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        let valid = format!("{:?}", chunk.valid());
        out.push_str(&valid[1..valid.len() - 1]);
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_shows_bytes_that_are_not_utf8_as_hex() {
        use std::os::unix::ffi::OsStrExt;
        let p = |b: &[u8]| q(Path::new(std::ffi::OsStr::from_bytes(b)));
        assert_eq!(p(b"/a/job\xff"), r#""/a/job\xff""#);
        assert_eq!(p("/a/job\u{fffd}".as_bytes()), "\"/a/job\u{fffd}\"");
        assert_eq!(p(b"x\x1b\xfe\"y"), r#""x\u{1b}\xfe\"y""#);
    }

    #[test]
    fn describe_errno_is_lowercase_without_os_error_suffix() {
        assert_eq!(describe_errno(libc::ENOENT), "no such file or directory");
        assert_eq!(describe_errno(libc::EPERM), "operation not permitted");
    }

    #[test]
    fn eperm_with_no_instruction_processed_is_a_refusal_before_verification() {
        assert!(refused_before_verification(libc::EPERM, ""));
        assert!(refused_before_verification(
            libc::EPERM,
            "processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0\n"
        ));
        assert!(refused_before_verification(
            libc::EPERM,
            "verification time 10 usec\nstack depth 0\nprocessed 0 insns (limit 1000000)\n\0"
        ));
        assert!(!refused_before_verification(
            libc::EPERM,
            "0: (b7) r0 = 0\nprocessed 2 insns (limit 1000000)\n"
        ));
        assert!(!refused_before_verification(
            libc::EPERM,
            "attach_btf_id 5 is not a function\nprocessed 0 insns\n"
        ));
        assert!(!refused_before_verification(libc::EACCES, ""));
        assert!(!refused_before_verification(libc::EINVAL, ""));
    }

    #[test]
    fn from_errno_maps_kinds_and_adds_privilege_hint() {
        let e = Error::from_errno("Cannot open pin \"/x\"", "BPF_OBJ_GET", libc::EPERM);
        assert_eq!(e.kind, Kind::Permission);
        assert_eq!(e.errno, libc::EPERM);
        assert_eq!(e.message, "Cannot open pin \"/x\": operation not permitted");
        assert!(e.hint.as_deref().unwrap().contains("CAP_BPF"));
        assert_eq!(
            Error::from_errno("x", "op", libc::EEXIST).kind,
            Kind::Exists
        );
        assert_eq!(
            Error::from_errno("x", "op", libc::ENOENT).kind,
            Kind::NotFound
        );
        assert_eq!(Error::from_errno("x", "op", libc::EIO).kind, Kind::Os);
    }
}
