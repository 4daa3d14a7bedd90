//! Names of the numbers kernel maps hold: system calls (this architecture's
//! table, from the `syscalls` crate), errno values, and kernel addresses
//! (`/proc/kallsyms`, read once per process).

use crate::error::{Error, Result};
use std::sync::OnceLock;

/// This architecture's system calls, as (number, name).
pub fn syscalls() -> Vec<(u32, &'static str)> {
    syscalls::Sysno::iter()
        .map(|s| (s.id() as u32, s.name()))
        .collect()
}

/// The errno values Linux defines, as (number, name): 1 to 4095 where named.
pub fn errnos() -> Vec<(u32, &'static str)> {
    (1..4096)
        .filter_map(|n| syscalls::Errno::new(n).name().map(|s| (n as u32, s)))
        .collect()
}

/// The kernel's text symbols, sorted by address.
static KSYMS: OnceLock<std::result::Result<Vec<(u64, String)>, String>> = OnceLock::new();

fn parse_kallsyms(text: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_ascii_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            let kind = f.next()?;
            let name = f.next()?;
            (addr != 0 && matches!(kind, "t" | "T" | "w" | "W")).then(|| (addr, name.to_string()))
        })
        .collect();
    out.sort();
    out
}

/// The kernel function each address is in (the text symbol at or below
/// it), or `None` for one below every symbol.
pub fn ksyms(addrs: &[u64]) -> Result<Vec<Option<String>>> {
    let table = KSYMS.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/kallsyms").map_err(|e| e.to_string())?;
        let t = parse_kallsyms(&text);
        if t.is_empty() {
            return Err("it lists no addresses (kptr_restrict hides them)".into());
        }
        Ok(t)
    });
    let t = table.as_ref().map_err(|why| {
        Error::invalid("ksym", format!("Cannot read /proc/kallsyms: {why}"))
            .with_hint("run as root, with sysctl kernel.kptr_restrict below 2")
    })?;
    Ok(addrs
        .iter()
        .map(|&a| {
            let i = t.partition_point(|(x, _)| *x <= a);
            i.checked_sub(1).map(|i| t[i].1.clone())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_name_known_numbers() {
        assert!(syscalls().iter().any(|&(_, n)| n == "openat"));
        assert!(errnos().contains(&(1, "EPERM")));
        assert!(errnos().contains(&(2, "ENOENT")));
    }

    #[test]
    fn kallsyms_parse_keeps_text_symbols_sorted() {
        let t = parse_kallsyms(
            "ffffffff81000200 T b_func\nffffffff81000100 t a_func [mod]\nffffffff82000000 D data\n",
        );
        assert_eq!(
            t,
            vec![
                (0xffffffff81000100, "a_func".to_string()),
                (0xffffffff81000200, "b_func".to_string())
            ]
        );
    }
}
