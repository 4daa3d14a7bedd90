//! `__ksym` and `__kconfig` externs: found in the object, resolved against
//! the running kernel, and linked in before aya 0.14 (which has no extern
//! support) reads the object. As libbpf's `bpf_object__collect_externs`,
//! `bpf_object__resolve_externs` and `bpf_object__relocate_data` do:
//!
//! - a kfunc call becomes a `BPF_PSEUDO_KFUNC_CALL` to the function's id in
//!   the kernel's BTF; a weak kfunc the kernel lacks becomes a call of an
//!   unknown helper (`2002000000 +` its symbol's index), which the verifier
//!   drops as dead code behind a `bpf_ksym_exists()` test, and which
//!   [`explain`] names when the verifier finds it reachable;
//! - a typed ksym (`extern const struct rq runqueues __ksym`) and a kfunc's
//!   address become a `BPF_PSEUDO_BTF_ID` load, a typeless one
//!   (`extern const void x __ksym`) its kallsyms address, a weak one the
//!   kernel lacks 0;
//! - `__kconfig` values go into a read-only data section `.rodata.kconfig`,
//!   which aya makes into a frozen map, so the verifier sees constants;
//! - the BTF is made acceptable to the kernel: `.ksyms` entries become int
//!   VARs, `.kconfig` VARs allocated globals, extern FUNCs global, and both
//!   DATASECs get their size.
//!
//! The kernel is read through [`Kernel`], so unit tests give a fake one.
//!
//! This file finds the externs, resolves them and links them in; its parts:
//! - `kernel`: the kernel as the pass reads it (`Kernel`, `Running`);
//! - `ksyms`: `__ksym` externs resolved against the kernel;
//! - `kconfig`: `__kconfig` values and their data section;
//! - `rewrite`: the edits of code and BTF that link the externs in.

mod kconfig;
mod kernel;
mod ksyms;
mod rewrite;

use crate::error::{Error, Kind, Result, q};
use crate::object::btf_edit::{self as b, Btf};
use crate::object::elf_edit::{self as e, Elf};
use crate::object::spec::{self, Parsed};
use kconfig::{link_kconfig, resolve_kconfig, syscall_prefix};
use kernel::Lookup;
pub use kernel::{Kernel, Running};
use ksyms::resolve_ksym;
use rewrite::{fix_btf, patch_code};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// What an extern is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExternKind {
    /// A kernel function (`extern void bpf_rcu_read_lock(void) __ksym`).
    KsymFunc,
    /// A kernel variable with a type, found by BTF.
    KsymVar,
    /// A kernel symbol without a type (`extern const void x __ksym`), found
    /// by kallsyms.
    KsymTypeless,
    /// A `__kconfig` value.
    Kconfig,
}

impl ExternKind {
    fn what(self) -> &'static str {
        match self {
            ExternKind::KsymFunc => "kfunc",
            ExternKind::KsymVar => "ksym",
            ExternKind::KsymTypeless => "typeless ksym",
            ExternKind::Kconfig => "kconfig",
        }
    }
}

/// One extern of an object and how it resolves on this kernel.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternReport {
    pub name: String,
    pub kind: ExternKind,
    pub weak: bool,
    /// Whether this kernel gives it (a weak one that is not found is 0).
    pub found: bool,
    /// The kernel BTF id of a kfunc or typed ksym.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub btf_id: Option<u32>,
    /// A typeless ksym's kallsyms address, in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A kconfig value, as the config file or uname gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The module whose BTF has it, when vmlinux's does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Why it is not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// An extern symbol of the object.
struct Ext {
    sym: usize,
    name: String,
    weak: bool,
    kind: ExternKind,
    /// The VAR or FUNC in the object's BTF.
    btf_id: u32,
    /// Its place in its DATASEC, whose entries the kernel wants in the
    /// order of their offsets.
    place: usize,
}

/// How one extern resolved.
#[derive(Default)]
struct Res {
    found: bool,
    kernel_id: Option<u32>,
    address: Option<u64>,
    /// Kconfig: the value's bytes, laid out for its type.
    bytes: Vec<u8>,
    value: Option<String>,
    module: Option<String>,
    why: Option<String>,
    /// A reason the object cannot load even if the extern is weak.
    fatal: Option<String>,
}

/// The object after linking, and what each extern became.
pub struct Linked {
    pub data: Vec<u8>,
    pub externs: Vec<ExternReport>,
}

/// The name of the data section (and so the map) that holds kconfig values.
/// aya makes a frozen, read-only map of every `.rodata*` section.
pub const KCONFIG_SECTION: &str = ".rodata.kconfig";

const POISON_KFUNC: i32 = 2_002_000_000;

fn refuse(message: String) -> Error {
    Error::new(Kind::NotSupported, "link", message)
}

fn malformed(why: impl std::fmt::Display) -> Error {
    Error::new(Kind::Elf, "link", format!("the object is malformed: {why}"))
}

/// A named global or weak symbol that the object does not define.
fn is_extern(s: &e::Sym) -> bool {
    s.index > 0
        && s.shndx == e::SHN_UNDEF
        && !s.name.is_empty()
        && (s.bind == e::STB_GLOBAL || s.bind == e::STB_WEAK)
}

/// Finds the object's externs and classifies them by its BTF.
fn collect(elf: &Elf, btf: Option<&Btf<'_>>) -> Result<Vec<Ext>> {
    let syms: Vec<e::Sym> = elf.symbols().into_iter().filter(is_extern).collect();
    if syms.is_empty() {
        return Ok(Vec::new());
    }
    let Some(btf) = btf else {
        return Err(refuse(format!(
            "extern \"{}\" needs the object's BTF: compile it with `clang -g`",
            syms[0].name
        )));
    };
    let mut by_name: HashMap<String, (bool, u32, usize)> = HashMap::new();
    for (sec, kconfig) in [(".ksyms", false), (".kconfig", true)] {
        if let Some(id) = btf.datasec(sec) {
            for (place, entry) in btf.sec_entries(id).into_iter().enumerate() {
                by_name.insert(btf.name(entry.type_id), (kconfig, entry.type_id, place));
            }
        }
    }
    syms.into_iter()
        .map(|s| {
            let Some(&(kconfig, id, place)) = by_name.get(&s.name) else {
                return Err(refuse(format!(
                    "extern \"{}\" is neither a __ksym nor a __kconfig one, and bpfx links no other externs",
                    s.name
                )));
            };
            let rec = btf.get(id).ok_or_else(|| malformed("a DATASEC entry has no type"))?;
            let kind = if kconfig {
                ExternKind::Kconfig
            } else if rec.kind == b::FUNC {
                ExternKind::KsymFunc
            } else if btf.skip_mods(rec.st) == 0 {
                ExternKind::KsymTypeless
            } else {
                ExternKind::KsymVar
            };
            Ok(Ext {
                sym: s.index,
                weak: s.bind == e::STB_WEAK,
                name: s.name,
                kind,
                btf_id: id,
                place,
            })
        })
        .collect()
}

/// Finds the externs of `data`. `None` when it has none.
fn find(data: &[u8]) -> Result<Option<(Elf, Vec<Ext>)>> {
    // What is not an ELF64 object with externs is left for aya to judge.
    let Ok(elf) = Elf::parse(data.to_vec()) else {
        return Ok(None);
    };
    if !elf.symbols().iter().any(is_extern) {
        return Ok(None);
    }
    let exts = match elf.section(".BTF") {
        Some(i) => {
            let btf = Btf::parse(elf.bytes(i)).map_err(|e| malformed(format!("its BTF: {e}")))?;
            collect(&elf, Some(&btf))?
        }
        None => collect(&elf, None)?,
    };
    Ok((!exts.is_empty()).then_some((elf, exts)))
}

/// Resolves each extern against `kernel`.
fn resolve(elf: &Elf, exts: &[Ext], kernel: &dyn Kernel) -> Result<Vec<Res>> {
    let index = elf
        .section(".BTF")
        .ok_or_else(|| malformed("it has no BTF"))?;
    let btf = Btf::parse(elf.bytes(index)).map_err(|e| malformed(format!("its BTF: {e}")))?;
    let kbtf = kernel.vmlinux_btf()?;
    let mut look = Lookup {
        kernel,
        kallsyms: None,
        wanted_syms: exts
            .iter()
            .filter(|x| x.kind != ExternKind::Kconfig)
            .map(|x| x.name.clone())
            .chain([format!("{}sys_bpf", syscall_prefix())])
            .collect(),
        config: None,
        kconfig_bytes: 0,
    };
    let mut modules = None;
    let mut res = Vec::with_capacity(exts.len());
    for x in exts {
        res.push(if x.kind == ExternKind::Kconfig {
            resolve_kconfig(x, &btf, kbtf, &mut look)
        } else {
            resolve_ksym(x, &btf, kbtf, &mut modules, &mut look)?
        });
    }
    Ok(res)
}

fn report(exts: &[Ext], res: &[Res]) -> Vec<ExternReport> {
    exts.iter()
        .zip(res)
        .map(|(x, r)| ExternReport {
            name: x.name.clone(),
            kind: x.kind,
            weak: x.weak,
            found: r.found,
            btf_id: r.kernel_id,
            address: r.address.map(|a| format!("{a:#x}")),
            value: r.value.clone(),
            module: r.module.clone(),
            why: r.fatal.clone().or_else(|| r.why.clone()),
        })
        .collect()
}

/// The externs `data` needs and whether this kernel has each, for
/// `inspect`, which reads an object whatever the kernel: when the kernel
/// cannot be read, or the object's externs cannot be linked, each extern
/// is listed as not found, with the reason.
pub fn list(data: &[u8], kernel: &dyn Kernel) -> Vec<ExternReport> {
    let (exts, res) = match find(data) {
        Ok(Some((elf, exts))) => match resolve(&elf, &exts, kernel) {
            Ok(res) => (exts, res),
            Err(err) => {
                let res = exts
                    .iter()
                    .map(|_| Res {
                        why: Some(err.message.clone()),
                        ..Res::default()
                    })
                    .collect();
                (exts, res)
            }
        },
        _ => return Vec::new(),
    };
    report(&exts, &res)
}

/// `parsed` with its externs linked for the running kernel (parsed again,
/// so the spec lists the kconfig map), or as it was when it has none.
pub fn link_object(path: &Path, parsed: Parsed) -> Result<Parsed> {
    match link(&parsed.data, &Running) {
        Ok(None) => Ok(parsed),
        Ok(Some(linked)) => spec::parse(path, linked.data),
        Err(e) => {
            let message = format!("Cannot load {}: {}", q(path), e.message);
            Err(e.with_message(message).with_path(path))
        }
    }
}

/// Links the externs of `data` for loading with aya, or refuses, naming each
/// strong extern the kernel lacks. `None` when the object has no externs.
pub fn link(data: &[u8], kernel: &dyn Kernel) -> Result<Option<Linked>> {
    let Some((mut elf, exts)) = find(data)? else {
        return Ok(None);
    };
    let res = resolve(&elf, &exts, kernel)?;
    let refused: Vec<String> = exts
        .iter()
        .zip(&res)
        .filter_map(|(x, r)| {
            r.fatal.clone().or_else(|| {
                (!r.found && !x.weak).then(|| {
                    format!(
                        "extern \"{}\" ({}) is {}",
                        x.name,
                        x.kind.what(),
                        r.why.as_deref().unwrap_or("not found")
                    )
                })
            })
        })
        .collect();
    if !refused.is_empty() {
        let mut err = refuse(refused.join("; "));
        err.feature = Some("extern".into());
        err.hint = Some(
            "declare an extern the program can do without __weak (and test it with bpf_ksym_exists()), or use a kernel that has it"
                .into(),
        );
        return Err(err);
    }
    let by_sym: HashMap<usize, usize> = exts.iter().enumerate().map(|(i, x)| (x.sym, i)).collect();
    patch_code(&mut elf, &exts, &res, &by_sym)?;
    link_kconfig(&mut elf, &exts, &res)?;
    fix_btf(&mut elf, &exts, &res)?;
    let externs = report(&exts, &res);
    Ok(Some(Linked {
        data: elf.finish(),
        externs,
    }))
}

/// Names the weak kfunc behind a verifier refusal of a call to an unknown
/// helper that `linker` made (`invalid func unknown#2002000007`), as libbpf
/// does: the program calls a kfunc this kernel lacks without testing it.
pub fn explain(mut err: Error, data: &[u8]) -> Error {
    let Some(log) = err.log.as_deref() else {
        return err;
    };
    let Some(n) = log
        .split("invalid func unknown#")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<i64>().ok()
        })
        .and_then(|n| usize::try_from(n - i64::from(POISON_KFUNC)).ok())
    else {
        return err;
    };
    let Ok(elf) = Elf::parse(data.to_vec()) else {
        return err;
    };
    let Some(sym) = elf
        .symbols()
        .into_iter()
        .find(|s| s.index == n && is_extern(s))
    else {
        return err;
    };
    err.message = format!(
        "{}: it calls the weak kfunc \"{}\", which this kernel lacks",
        err.message, sym.name
    );
    err.hint = Some(format!(
        "call it only behind `if (bpf_ksym_exists({}))`, so the verifier drops the call",
        sym.name
    ));
    err
}

#[cfg(test)]
use std::collections::HashSet; // tests.rs takes it from here
#[cfg(test)]
mod tests;
