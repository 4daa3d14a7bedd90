//! Names in the trees: each cgroup directory name encoded for bpffs (`%`
//! becomes `%25` and `.` becomes `%2E`, reversibly), where a rule keeps its
//! program pinned, and the rule's name for its pins, checked.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Encodes one cgroup directory name for bpffs.
pub fn encode(name: &str) -> String {
    name.replace('%', "%25").replace('.', "%2E")
}

/// Decodes a bpffs directory name made by [`encode`].
pub fn decode(name: &str) -> String {
    name.replace("%2E", ".").replace("%25", "%")
}

pub fn encode_rel(rel: &Path) -> PathBuf {
    rel.iter().map(|c| encode(&c.to_string_lossy())).collect()
}

pub(super) fn decode_rel(rel: &Path) -> PathBuf {
    rel.iter().map(|c| decode(&c.to_string_lossy())).collect()
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
        for n in ["plain", "a.b", "100%", "x.%2E.y", "%2E"] {
            let e = encode(n);
            assert!(!e.contains('.'), "{e}");
            assert_eq!(decode(&e), n);
        }
        assert_eq!(encode("app.slice"), "app%2Eslice");
        assert_eq!(
            decode_rel(&encode_rel(Path::new("a.slice/b.scope"))),
            PathBuf::from("a.slice/b.scope")
        );
    }

    #[test]
    fn view_names_are_checked() {
        assert!(check_name("stat").is_ok());
        assert!(check_name("a.b").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }
}
