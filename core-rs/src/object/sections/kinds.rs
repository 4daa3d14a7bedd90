//! How bpfx handles each libbpf section name: aya reads and loads it, bpfx
//! links and loads it itself (`syscall`), or nothing can load it yet, and
//! why; and the names aya takes for something other than a program.

use aya_obj::ProgramSection;
use std::str::FromStr as _;

/// How bpfx loads the programs of one section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handling {
    /// aya reads and loads it.
    Aya,
    /// bpfx links and loads it itself: `SEC("syscall")`.
    Syscall,
    /// Nothing can load it yet; why.
    Unsupported(String),
}

/// Whether aya-obj takes a section of this name for something other than a
/// program (its `EbpfSectionKind::from_name`).
pub(super) fn aya_known_kind(name: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "license", "version", "maps", ".maps", ".text", ".bss", ".data", ".rodata",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || name == ".BTF" || name == ".BTF.ext"
}

/// Section kinds libbpf loads and aya 0.14 has no program type for.
fn missing_in_aya(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "kprobe.session" => "kprobe session programs",
        "uprobe.session" => "uprobe session programs",
        "ksyscall" | "kretsyscall" => "ksyscall programs",
        "usdt" => "USDT programs",
        "fmod_ret" | "fmod_ret.s" => "fmod_ret programs",
        "struct_ops" | "struct_ops.s" => "struct_ops programs (and their struct_ops maps)",
        "netfilter" => "netfilter programs",
        "lwt_in" | "lwt_out" | "lwt_xmit" | "lwt_seg6local" => "lightweight tunnel programs",
        "raw_tp.w" | "raw_tracepoint.w" | "raw_tracepoint.writable" => {
            "writable raw tracepoint programs"
        }
        "action" => "tc action programs",
        _ => return None,
    })
}

/// The program type libbpf gives a section kind aya 0.14 lacks, as
/// `names::prog_type` spells it.
pub fn libbpf_type(name: &str) -> Option<&'static str> {
    let kind = name.split('/').next().unwrap_or(name);
    Some(match kind {
        "action" => "sched_act",
        "kprobe.multi" | "kretprobe.multi" | "kprobe.session" | "uprobe.multi"
        | "uretprobe.multi" | "uprobe.session" | "ksyscall" | "kretsyscall" | "usdt" => "kprobe",
        "fmod_ret" | "fmod_ret.s" => "tracing",
        "struct_ops" | "struct_ops.s" => "struct_ops",
        "netfilter" => "netfilter",
        "lwt_in" => "lwt_in",
        "lwt_out" => "lwt_out",
        "lwt_xmit" => "lwt_xmit",
        "lwt_seg6local" => "lwt_seg6local",
        "raw_tp.w" | "raw_tracepoint.w" | "raw_tracepoint.writable" => "raw_tracepoint_writable",
        _ => return None,
    })
}

/// How bpfx can load a section of this name (`?` already stripped).
pub fn handling(name: &str) -> Handling {
    if ProgramSection::from_str(name).is_ok() {
        return Handling::Aya;
    }
    if name == "syscall" {
        return Handling::Syscall;
    }
    let kind = name.split('/').next().unwrap_or(name);
    Handling::Unsupported(match missing_in_aya(kind) {
        Some(what) => format!("aya 0.14, which bpfx loads with, has no support for {what}"),
        None => format!(
            "neither aya 0.14 nor bpfx knows the section type \"{kind}\" (is the SEC() name right?)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handling_knows_what_aya_takes_what_bpfx_loads_and_what_is_missing() {
        assert_eq!(handling("iter/task"), Handling::Aya);
        assert_eq!(handling("kprobe/do_unlinkat"), Handling::Aya);
        assert_eq!(handling("syscall"), Handling::Syscall);
        for tc in ["tc", "tc/ingress", "tcx/egress", "netkit/peer"] {
            assert_eq!(handling(tc), Handling::Aya, "{tc}");
        }
        let Handling::Unsupported(why) = handling("usdt/x:p:n") else {
            panic!("usdt is not aya's")
        };
        assert!(why.contains("USDT"), "{why}");
        let Handling::Unsupported(why) = handling("bogus/thing") else {
            panic!("bogus is nobody's")
        };
        assert!(why.contains("\"bogus\""), "{why}");
    }
}
