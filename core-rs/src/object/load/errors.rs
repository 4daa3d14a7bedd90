//! The load's errors: aya's turned into ours (the verifier's log, the errno,
//! the call that failed, a refusal by policy told apart from the
//! verifier's), and a pin whose name is in use.

use crate::error::{Error, Kind, q};
use aya::programs::ProgramError;
use std::path::Path;

/// Turns an aya error into ours, keeping the verifier log and the errno.
pub fn aya_error(what: String, err: &(dyn std::error::Error + 'static)) -> Error {
    let mut chain = vec![err.to_string()];
    let mut errno = None;
    let mut op = "load".to_string();
    let mut log = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(ProgramError::LoadError {
            io_error,
            verifier_log,
        }) = e.downcast_ref::<ProgramError>()
        {
            errno = io_error.raw_os_error();
            op = "BPF_PROG_LOAD".into();
            let text = format!("{verifier_log:?}");
            if crate::error::refused_before_verification(errno.unwrap_or(0), &text) {
                // The verifier never saw it: a policy, or no privileges.
                return if crate::kernel::privileged::privileged() {
                    policy_refusal(what)
                } else {
                    Error::from_errno(what, "BPF_PROG_LOAD", libc::EPERM)
                };
            }
            log = Some(text);
            chain = vec![format!(
                "the verifier refused it: {}",
                crate::error::describe_errno(errno.unwrap_or(0))
            )];
            break;
        }
        if let Some(aya::maps::MapError::CreateError { name, io_error }) =
            e.downcast_ref::<aya::maps::MapError>()
        {
            errno = io_error.raw_os_error();
            op = "BPF_MAP_CREATE".into();
            chain = vec![format!(
                "cannot create map \"{name}\": {}",
                crate::error::describe_errno(errno.unwrap_or(0))
            )];
            break;
        }
        if let Some(s) = e.downcast_ref::<aya::sys::SyscallError>() {
            op = s.call.to_string();
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            errno = errno.or(io.raw_os_error());
        }
        cur = e.source();
        if let Some(next) = cur {
            let s = next.to_string();
            if !chain.last().is_some_and(|l| l.contains(&s)) {
                chain.push(s);
            }
        }
    }
    let message = format!("{what}: {}", chain.join(": "));
    let kind = if log.is_some() {
        Kind::Verifier
    } else {
        errno.map_or(Kind::Invalid, crate::error::kind_of_errno)
    };
    let mut e = Error::new(kind, op, message);
    e.errno = errno.unwrap_or(0);
    e.log = log;
    if kind == Kind::Permission {
        e.hint = Some(
            "run as root, or with CAP_BPF and CAP_SYS_ADMIN (check with `bpfx doctor`)".into(),
        );
    }
    e
}

/// A load refused with EPERM before the verifier processed an instruction,
/// with the privileges to load: the kernel's policy refuses the program's
/// type, and the verifier never saw it.
fn policy_refusal(what: String) -> Error {
    let mut e = Error::new(
        Kind::Permission,
        "BPF_PROG_LOAD",
        format!(
            "{what}: the kernel refuses this type of program: EPERM at load, before verification (a security policy, not the verifier)"
        ),
    )
    .with_hint("`bpfx doctor` lists the program types this kernel refuses");
    e.errno = libc::EPERM;
    e
}

pub(super) fn in_use(what: &str, name: &str, path: &Path) -> Error {
    Error::new(
        Kind::Exists,
        "BPF_OBJ_PIN",
        format!(
            "Cannot pin {what} \"{name}\" at {}: the name is already in use",
            q(path)
        ),
    )
    .with_path(path)
    .with_hint(format!(
        "unpin it first (`bpfx unpin {}`) or choose another --pin directory",
        path.display()
    ))
}

pub(super) fn pin_error(
    what: &str,
    name: &str,
    path: &Path,
    e: &(dyn std::error::Error + 'static),
) -> Error {
    let err = aya_error(format!("Cannot pin {what} \"{name}\" at {}", q(path)), e).with_path(path);
    if err.errno == libc::EEXIST {
        return in_use(what, name, path);
    }
    if err.op == "load" {
        err.with_op("BPF_OBJ_PIN")
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_map_creation_names_the_map_and_the_call() {
        let e = aya::maps::MapError::CreateError {
            name: "exec_counts".into(),
            io_error: std::io::Error::from_raw_os_error(libc::EPERM),
        };
        let err = aya_error("Cannot load \"x.o\"".into(), &e);
        assert_eq!(err.op, "BPF_MAP_CREATE");
        assert_eq!(err.errno, libc::EPERM);
        assert_eq!(err.kind, Kind::Permission);
        assert_eq!(
            err.message,
            "Cannot load \"x.o\": cannot create map \"exec_counts\": operation not permitted"
        );
        assert!(err.hint.as_deref().unwrap().contains("CAP_BPF"));
    }

    #[test]
    fn a_load_refused_before_verification_is_not_the_verifiers() {
        let refused = ProgramError::LoadError {
            io_error: std::io::Error::from_raw_os_error(libc::EPERM),
            verifier_log: aya_obj::VerifierLog::new(
                "verification time 10 usec\nstack depth 0\nprocessed 0 insns (limit 1000000)\n"
                    .into(),
            ),
        };
        let err = aya_error("Cannot load program \"mapelems\"".into(), &refused);
        assert_eq!(err.kind, Kind::Permission);
        assert_eq!((err.op.as_str(), err.errno), ("BPF_PROG_LOAD", libc::EPERM));
        assert!(err.log.is_none());
        assert!(!err.message.contains("verifier refused"), "{}", err.message);
        if crate::kernel::privileged::privileged() {
            assert_eq!(
                err.message,
                "Cannot load program \"mapelems\": the kernel refuses this type of program: EPERM at load, before verification (a security policy, not the verifier)"
            );
        } else {
            assert!(err.hint.as_deref().unwrap().contains("CAP_BPF"));
        }
        // The verifier's own refusal keeps its log.
        let rejected = ProgramError::LoadError {
            io_error: std::io::Error::from_raw_os_error(libc::EACCES),
            verifier_log: aya_obj::VerifierLog::new("0: R1 invalid mem access\n".into()),
        };
        let err = aya_error("Cannot load program \"x\"".into(), &rejected);
        assert_eq!(err.kind, Kind::Verifier);
        assert_eq!(
            err.message,
            "Cannot load program \"x\": the verifier refused it: permission denied"
        );
        assert_eq!(err.log.as_deref(), Some("0: R1 invalid mem access\n"));
    }
}
