//! Which programs a load takes: those `only` names, or every one that
//! autoloads, and none that bpfx cannot load.

use crate::error::{Error, Kind, Result, q};
use crate::object::spec::{Parsed, ProgramSpec};

/// The programs a load takes: those `only` names, or every program that
/// autoloads. Refuses an unknown name, and a program bpfx cannot load.
pub fn choose<'a>(parsed: &'a Parsed, only: Option<&[String]>) -> Result<Vec<&'a ProgramSpec>> {
    let chosen: Vec<&ProgramSpec> = match only {
        Some(names) => {
            let mut out = Vec::new();
            for n in names {
                let p = parsed.program(n)?;
                if !out.iter().any(|q: &&ProgramSpec| q.name == p.name) {
                    out.push(p);
                }
            }
            out
        }
        None => parsed.spec.programs.iter().filter(|p| p.autoload).collect(),
    };
    if let Some(p) = chosen.iter().find(|p| p.unsupported.is_some()) {
        let others: Vec<&str> = parsed
            .spec
            .programs
            .iter()
            .filter(|o| o.unsupported.is_none() && o.autoload)
            .map(|o| o.name.as_str())
            .collect();
        let mut e = Error::new(
            Kind::NotSupported,
            "load",
            format!(
                "Cannot load program \"{}\" (section \"{}\") of {}: {}",
                p.name,
                p.section,
                q(&parsed.path),
                p.unsupported.as_deref().unwrap_or_default()
            ),
        )
        .with_path(&parsed.path);
        e.feature = Some(p.section.split('/').next().unwrap_or_default().to_string());
        if !others.is_empty() {
            e.hint = Some(format!("load the others with --only {}", others.join(",")));
        }
        return Err(e);
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> crate::object::spec::Parsed {
        crate::object::spec::parse_file(&crate::object::spec::tests::fixture(name)).unwrap()
    }

    #[test]
    fn choose_takes_what_autoloads_or_what_only_names() {
        let parsed = fixture("sections.bpf.o");
        let names = |c: Vec<&ProgramSpec>| c.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(choose(&parsed, None).unwrap()),
            ["list_task_tgids_in_full", "write_ctx_to_map"]
        );
        let only = [
            "list_task_comms_optional".to_string(),
            "list_task_comms_optional".into(),
        ];
        assert_eq!(
            names(choose(&parsed, Some(&only)).unwrap()),
            ["list_task_comms_optional"]
        );
        let e = choose(&parsed, Some(&["nope".to_string()])).unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert!(
            e.message.ends_with(
                "has no program \"nope\" (it has: list_task_comms_optional, list_task_tgids_in_full, write_ctx_to_map)"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn choose_refuses_an_unsupported_program_and_names_the_others() {
        let parsed = fixture("unsupported.bpf.o");
        let e = choose(&parsed, None).unwrap_err();
        assert_eq!(e.kind, Kind::NotSupported);
        assert!(
            e.message
                .starts_with("Cannot load program \"count_getpid\" (section \"ksyscall/getpid\")"),
            "{}",
            e.message
        );
        assert_eq!(e.feature.as_deref(), Some("ksyscall"));
        assert_eq!(
            e.hint.as_deref(),
            Some("load the others with --only count_tasks_plain")
        );
        assert!(choose(&parsed, Some(&["count_tasks_plain".into()])).is_ok());
    }
}
