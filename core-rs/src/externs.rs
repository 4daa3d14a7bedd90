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

use crate::btf_edit::{self as b, Btf, Edit};
use crate::elf_edit::{self as e, Elf};
use crate::error::{Error, Kind, Result, q};
use crate::object::{self, Parsed};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::path::Path;

/// The running kernel, as the extern pass reads it.
pub trait Kernel {
    /// `/sys/kernel/btf/vmlinux`, indexed.
    fn vmlinux_btf(&self) -> Result<&Btf<'static>>;
    /// The modules' split BTF (`/sys/kernel/btf/<module>`), by name.
    fn module_btfs(&self) -> Vec<(String, Vec<u8>)>;
    /// `/proc/kallsyms`.
    fn kallsyms(&self) -> Result<String>;
    /// The kernel's build config and where it came from, if readable.
    fn config(&self) -> Option<(String, String)>;
    /// `uname -r`.
    fn release(&self) -> String;
}

/// The kernel this process runs on.
pub struct Running;

impl Kernel for Running {
    /// Read and indexed once per process.
    fn vmlinux_btf(&self) -> Result<&Btf<'static>> {
        static INDEX: std::sync::OnceLock<Btf<'static>> = std::sync::OnceLock::new();
        if let Some(b) = INDEX.get() {
            return Ok(b);
        }
        let b = Btf::parse(crate::btf::RawBtf::kernel()?.bytes()).map_err(|e| {
            Error::new(
                Kind::Invalid,
                "parse",
                format!("The kernel's BTF is malformed: {e}"),
            )
        })?;
        Ok(INDEX.get_or_init(|| b))
    }

    fn module_btfs(&self) -> Vec<(String, Vec<u8>)> {
        let Ok(dir) = std::fs::read_dir("/sys/kernel/btf") else {
            return Vec::new();
        };
        let mut out: Vec<(String, Vec<u8>)> = dir
            .flatten()
            .filter_map(|d| {
                let name = d.file_name().to_str()?.to_string();
                (name != "vmlinux")
                    .then(|| Some((name, std::fs::read(d.path()).ok()?)))
                    .flatten()
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn kallsyms(&self) -> Result<String> {
        std::fs::read_to_string("/proc/kallsyms")
            .map_err(|e| Error::io("Cannot read \"/proc/kallsyms\"", "open", &e))
    }

    fn config(&self) -> Option<(String, String)> {
        if let Ok(gz) = std::fs::read("/proc/config.gz") {
            let mut text = String::new();
            if flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .is_ok()
            {
                return Some(("/proc/config.gz".into(), text));
            }
        }
        let path = format!("/boot/config-{}", self.release());
        std::fs::read_to_string(&path).ok().map(|t| (path, t))
    }

    fn release(&self) -> String {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }
}

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

/// Reads the kernel lazily: vmlinux BTF, then modules, kallsyms and the
/// config only if some extern needs them.
struct Lookup<'k> {
    kernel: &'k dyn Kernel,
    kallsyms: Option<HashMap<String, u64>>,
    wanted_syms: HashSet<String>,
    config: Option<Option<(String, HashMap<String, String>)>>,
}

impl Lookup<'_> {
    fn address(&mut self, name: &str) -> Result<Option<u64>> {
        if self.kallsyms.is_none() {
            let text = self.kernel.kallsyms()?;
            let mut found = HashMap::new();
            for line in text.lines() {
                let mut f = line.split_whitespace();
                let (Some(addr), Some(_), Some(sym)) = (f.next(), f.next(), f.next()) else {
                    continue;
                };
                if self.wanted_syms.contains(sym) && !found.contains_key(sym) {
                    found.insert(sym.to_string(), u64::from_str_radix(addr, 16).unwrap_or(0));
                }
            }
            self.kallsyms = Some(found);
        }
        Ok(self.kallsyms.as_ref().and_then(|m| m.get(name)).copied())
    }

    fn config(&mut self) -> Option<&(String, HashMap<String, String>)> {
        if self.config.is_none() {
            self.config = Some(self.kernel.config().map(|(src, text)| {
                let values = text
                    .lines()
                    .filter(|l| l.starts_with("CONFIG_"))
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                    .collect();
                (src, values)
            }));
        }
        self.config.as_ref().and_then(|c| c.as_ref())
    }
}

/// The syscall-wrapper prefix of this architecture, as libbpf knows it.
fn syscall_prefix() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "__x64_",
        "x86" => "__ia32_",
        "aarch64" => "__arm64_",
        "arm" => "__arm_",
        "s390x" => "__s390x_",
        "riscv64" => "__riscv_",
        "powerpc64" => "__powerpc64_",
        "powerpc" => "__powerpc_",
        _ => "__se_",
    }
}

/// `KERNEL_VERSION(a, b, c)` of a release such as `6.18.44-foo`.
pub fn kernel_version(release: &str) -> Option<u32> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || parts.next()?.parse::<u32>().ok();
    let (a, b, c) = (next()?, next()?, next()?);
    Some((a << 16) + (b << 8) + c.min(255))
}

/// How a kconfig value's type takes values (libbpf's `kcfg_type`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kcfg {
    Bool,
    Char,
    Tristate,
    Int { size: usize, signed: bool },
    CharArray(usize),
}

fn kcfg_type(btf: &Btf<'_>, type_id: u32) -> Option<Kcfg> {
    let id = btf.skip_mods(type_id);
    let r = btf.get(id)?;
    match r.kind {
        b::INT => {
            let enc = btf.extra(id, 0) >> 24;
            if enc & 4 != 0 {
                return (r.st == 1).then_some(Kcfg::Bool);
            }
            if r.st == 1 {
                return Some(Kcfg::Char);
            }
            matches!(r.st, 2 | 4 | 8).then_some(Kcfg::Int {
                size: r.st as usize,
                signed: enc & 1 != 0,
            })
        }
        b::ENUM | b::ENUM64 if btf.name(id) == "libbpf_tristate" => Some(Kcfg::Tristate),
        b::ARRAY => {
            let n = btf.extra(id, 2) as usize;
            (n > 0 && kcfg_type(btf, btf.extra(id, 0)) == Some(Kcfg::Char))
                .then_some(Kcfg::CharArray(n))
        }
        _ => None,
    }
}

impl Kcfg {
    fn size(self) -> usize {
        match self {
            Kcfg::Bool | Kcfg::Char => 1,
            Kcfg::Tristate => 4,
            Kcfg::Int { size, .. } => size,
            Kcfg::CharArray(n) => n,
        }
    }

    /// The bytes of `value` (a config file's right-hand side) for this type.
    fn encode(self, value: &str) -> std::result::Result<Vec<u8>, String> {
        let tri = match value {
            "y" => Some(('y', 1u64)),
            "n" => Some(('n', 0)),
            "m" => Some(('m', 2)),
            _ => None,
        };
        if let Some((c, t)) = tri {
            return match self {
                Kcfg::Bool if c == 'm' => Err("a bool cannot be 'm'".into()),
                Kcfg::Bool => Ok(vec![u8::from(c == 'y')]),
                Kcfg::Tristate => Ok((t as u32).to_le_bytes().to_vec()),
                Kcfg::Char => Ok(vec![c as u8]),
                _ => Err(format!("'{c}' fits only a bool, a tristate or a char")),
            };
        }
        if let Some(s) = value.strip_prefix('"') {
            let Kcfg::CharArray(n) = self else {
                return Err("a string fits only a char array".into());
            };
            let s = s
                .strip_suffix('"')
                .ok_or("the string has no closing quote")?;
            let mut out = vec![0u8; n];
            let len = s.len().min(n - 1);
            out[..len].copy_from_slice(&s.as_bytes()[..len]);
            return Ok(out);
        }
        let (neg, digits) = match value.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, value),
        };
        let magnitude = if let Some(h) = digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            u64::from_str_radix(h, 16)
        } else if digits.len() > 1 && digits.starts_with('0') {
            u64::from_str_radix(&digits[1..], 8)
        } else {
            digits.parse::<u64>()
        }
        .map_err(|_| "it is not a number".to_string())?;
        let (size, signed) = match self {
            Kcfg::Int { size, signed } => (size, signed),
            Kcfg::Char => (1, false),
            Kcfg::Bool if !neg && magnitude <= 1 => return Ok(vec![magnitude as u8]),
            _ => return Err("a number fits only an integer".into()),
        };
        let bits = size as u32 * 8;
        let v: i128 = if neg {
            -i128::from(magnitude)
        } else {
            i128::from(magnitude)
        };
        let (lo, hi) = if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        if v < lo || v > hi {
            return Err(format!("it does not fit in {size} bytes"));
        }
        Ok((v as u64).to_le_bytes()[..size].to_vec())
    }
}

fn resolve_kconfig(ext: &Ext, btf: &Btf<'_>, kernel_btf: &Btf<'_>, look: &mut Lookup<'_>) -> Res {
    let var_type = btf.get(ext.btf_id).map_or(0, |r| r.st);
    let mut res = Res::default();
    let Some(ty) = kcfg_type(btf, var_type) else {
        res.fatal = Some(format!(
            "extern \"{}\" (kconfig) has a type bpfx cannot fill: use a bool, a char, an integer, enum libbpf_tristate or a char array",
            ext.name
        ));
        return res;
    };
    res.bytes = vec![0; ty.size()];
    let name = ext.name.as_str();
    let value: std::result::Result<Option<String>, String> = match name {
        "LINUX_KERNEL_VERSION" => kernel_version(&look.kernel.release())
            .map(|v| Some(v.to_string()))
            .ok_or_else(|| {
                format!(
                    "cannot read a kernel version from the release \"{}\"",
                    look.kernel.release()
                )
            }),
        "LINUX_HAS_BPF_COOKIE" => Ok(Some(
            if kernel_btf.has_enum_member("bpf_func_id", "BPF_FUNC_get_attach_cookie") {
                "1"
            } else {
                "0"
            }
            .into(),
        )),
        "LINUX_HAS_SYSCALL_WRAPPER" => {
            look.address(&format!("{}sys_bpf", syscall_prefix()))
                .map(|a| Some(if a.is_some() { "1" } else { "0" }.into()))
                .map_err(|e| e.message.clone())
        }
        n if n.starts_with("LINUX_") => Err(
            "bpfx knows LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE and LINUX_HAS_SYSCALL_WRAPPER only"
                .into(),
        ),
        n if n.starts_with("CONFIG_") => match look.config() {
            Some((src, values)) => match values.get(n) {
                Some(v) => Ok(Some(v.clone())),
                None => {
                    res.why = Some(format!("not set in {src}"));
                    Ok(None)
                }
            },
            None => {
                res.why = Some(format!(
                    "the kernel's config is not readable (neither /proc/config.gz nor /boot/config-{})",
                    look.kernel.release()
                ));
                Ok(None)
            }
        },
        _ => Err("a __kconfig extern's name starts with CONFIG_ or LINUX_".into()),
    };
    match value {
        Ok(Some(v)) => match ty.encode(&v) {
            Ok(bytes) => {
                res.found = true;
                res.bytes = bytes;
                res.value = Some(v);
            }
            Err(why) => {
                res.fatal = Some(format!(
                    "extern \"{name}\" (kconfig) cannot take the value {v}: {why}"
                ))
            }
        },
        Ok(None) => {}
        Err(why) => res.fatal = Some(format!("extern \"{name}\" (kconfig): {why}")),
    }
    res
}

fn resolve_ksym(
    ext: &Ext,
    btf: &Btf<'_>,
    kernel: &Btf<'_>,
    modules: &mut Option<Vec<(String, Vec<u8>)>>,
    look: &mut Lookup<'_>,
) -> Result<Res> {
    let mut res = Res::default();
    if ext.kind == ExternKind::KsymTypeless {
        match look.address(&ext.name)? {
            Some(a) => {
                res.found = true;
                res.address = Some(a);
            }
            None => res.why = Some("not in /proc/kallsyms".into()),
        }
        return Ok(res);
    }
    let want = if ext.kind == ExternKind::KsymFunc {
        b::FUNC
    } else {
        b::VAR
    };
    let Some((id, rec)) = kernel.find_ksym(&ext.name).filter(|(_, r)| r.kind == want) else {
        let mods = modules.get_or_insert_with(|| look.kernel.module_btfs());
        let module = mods.iter().find_map(|(m, data)| {
            let split = Btf::parse_split(data, Some(kernel)).ok()?;
            split
                .find_ksym(&ext.name)
                .filter(|(_, r)| r.kind == want)
                .map(|_| m.clone())
        });
        res.why = Some(match &module {
            Some(m) => format!(
                "in module \"{m}\"'s BTF, which bpfx cannot yet pass to the kernel (aya 0.14 sends no fd_array)"
            ),
            None => "not in the running kernel's BTF".into(),
        });
        res.module = module;
        return Ok(res);
    };
    // The object's declaration must match the kernel's, as libbpf checks.
    let local_type = btf.get(ext.btf_id).map_or(0, |r| r.st);
    let mismatch = if want == b::FUNC {
        let (lp, kp) = (btf.params(local_type), kernel.params(rec.st));
        let lret = btf.get(local_type).map_or(0, |r| r.st);
        let kret = kernel.get(rec.st).map_or(0, |r| r.st);
        if lp.len() != kp.len() {
            Some(format!(
                "the object declares {} arguments, the kernel's has {}",
                lp.len(),
                kp.len()
            ))
        } else if btf.shape(lret) != kernel.shape(kret) {
            Some(format!(
                "it returns {} in the object and {} in the kernel",
                btf.shape(lret),
                kernel.shape(kret)
            ))
        } else {
            lp.iter().zip(&kp).enumerate().find_map(|(i, (l, k))| {
                (btf.shape(*l) != kernel.shape(*k)).then(|| {
                    format!(
                        "argument {} is a {} in the object and a {} in the kernel",
                        i + 1,
                        btf.shape(*l),
                        kernel.shape(*k)
                    )
                })
            })
        }
    } else {
        let (l, k) = (btf.shape(local_type), kernel.shape(rec.st));
        (l != k).then(|| format!("it is a {l} in the object and a {k} in the kernel"))
    };
    if let Some(m) = mismatch {
        res.fatal = Some(format!(
            "extern \"{}\" ({}) does not match the kernel's: {m}",
            ext.name,
            ext.kind.what()
        ));
        return Ok(res);
    }
    // The verifier looks a variable's address up in kallsyms, which lists
    // variables only with CONFIG_KALLSYMS_ALL. The config says so in a few
    // ms; reading /proc/kallsyms takes about 60.
    if want == b::VAR {
        let all = look
            .config()
            .map(|(_, v)| v.get("CONFIG_KALLSYMS_ALL").is_some_and(|v| v == "y"));
        let listed = match all {
            Some(all) => all,
            None => look.address(&ext.name)?.is_some(),
        };
        if !listed {
            res.why = Some(
                "in the kernel's BTF but not in /proc/kallsyms, where the kernel looks its address up (it needs CONFIG_KALLSYMS_ALL)"
                    .into(),
            );
            return Ok(res);
        }
    }
    res.found = true;
    res.kernel_id = Some(id);
    Ok(res)
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
        Ok(Some(linked)) => object::parse(path, linked.data),
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
/// helper that `link` made (`invalid func unknown#2002000007`), as libbpf
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

/// Rewrites each instruction that refers to a ksym, and drops its
/// relocation (kconfig relocations stay: they now name a data section).
fn patch_code(
    elf: &mut Elf,
    exts: &[Ext],
    res: &[Res],
    by_sym: &HashMap<usize, usize>,
) -> Result<()> {
    for (rel_sec, target) in elf.code_relocations() {
        let base = elf.sections[target].offset;
        let size = elf.sections[target].size;
        let section = elf.sections[target].name.clone();
        for rel in elf.relocations(rel_sec) {
            let Some(&i) = by_sym.get(&rel.sym) else {
                continue;
            };
            let (x, r) = (&exts[i], &res[i]);
            if x.kind == ExternKind::Kconfig {
                continue;
            }
            if rel.offset % 8 != 0 || rel.offset + 8 > size {
                return Err(malformed(format!(
                    "a relocation of \"{}\" is out of its section",
                    x.name
                )));
            }
            let at = base + rel.offset;
            let insn = &mut elf.data[at..at + 16.min(size - rel.offset)];
            let code = insn[0];
            let src = insn[1] >> 4;
            let set_imm = |insn: &mut [u8], k: usize, v: i32| {
                insn[8 * k + 4..8 * k + 8].copy_from_slice(&v.to_le_bytes());
            };
            if code == 0x85 && src == 1 && x.kind == ExternKind::KsymFunc {
                // call: src_reg BPF_PSEUDO_KFUNC_CALL, off 0 (vmlinux).
                insn[2..4].copy_from_slice(&0u16.to_le_bytes());
                match r.kernel_id {
                    Some(id) => {
                        insn[1] = 2 << 4;
                        set_imm(insn, 0, id as i32);
                    }
                    None => {
                        // An unknown helper whose number names the symbol,
                        // for `explain`.
                        insn[1] = 0;
                        set_imm(insn, 0, POISON_KFUNC + x.sym as i32);
                    }
                }
            } else if code == 0x18 && insn.len() == 16 {
                // ld_imm64: a BTF id (typed ksym, kfunc address), an
                // address, or 0.
                let dst = insn[1] & 0x0f;
                let (src, lo, hi) = match (x.kind, r.kernel_id, r.address) {
                    (_, Some(id), _) => (3u8, id as i32, 0),
                    (_, None, Some(a)) => (0, a as u32 as i32, (a >> 32) as u32 as i32),
                    _ => (0, 0, 0),
                };
                insn[1] = (src << 4) | dst;
                set_imm(insn, 0, lo);
                set_imm(insn, 1, hi);
            } else {
                return Err(refuse(format!(
                    "extern \"{}\" ({}) is used at instruction {} of section \"{section}\" in a way bpfx cannot link (opcode {code:#04x})",
                    x.name,
                    x.kind.what(),
                    rel.offset / 8
                )));
            }
        }
        elf.drop_relocations(rel_sec, |rel| {
            by_sym
                .get(&rel.sym)
                .is_some_and(|&i| exts[i].kind != ExternKind::Kconfig)
        });
    }
    Ok(())
}

/// Where each kconfig extern goes in `.rodata.kconfig`: in the order of the
/// object's `.kconfig` DATASEC, each aligned to its size (1, 2, 4 or 8) or
/// to 1 (char arrays).
fn kconfig_layout(exts: &[Ext], res: &[Res]) -> (Vec<Option<usize>>, usize) {
    let mut off = 0usize;
    let mut at = vec![None; exts.len()];
    let mut order: Vec<usize> = (0..exts.len())
        .filter(|&i| exts[i].kind == ExternKind::Kconfig)
        .collect();
    order.sort_by_key(|&i| exts[i].place);
    for i in order {
        let r = &res[i];
        let align = match r.bytes.len() {
            1 | 2 | 4 | 8 => r.bytes.len(),
            _ => 1,
        };
        off = off.next_multiple_of(align);
        at[i] = Some(off);
        off += r.bytes.len();
    }
    (at, off.next_multiple_of(8))
}

fn link_kconfig(elf: &mut Elf, exts: &[Ext], res: &[Res]) -> Result<()> {
    let (at, size) = kconfig_layout(exts, res);
    if size == 0 {
        return Ok(());
    }
    if elf.section(KCONFIG_SECTION).is_some() {
        return Err(malformed(format!(
            "it has a section \"{KCONFIG_SECTION}\" already"
        )));
    }
    let mut bytes = vec![0u8; size];
    for (i, r) in res.iter().enumerate() {
        if let Some(o) = at[i] {
            bytes[o..o + r.bytes.len()].copy_from_slice(&r.bytes);
        }
    }
    let index = elf.add_section(KCONFIG_SECTION, e::SHT_PROGBITS, e::SHF_ALLOC, &bytes);
    let shndx = u16::try_from(index).map_err(|_| malformed("too many sections"))?;
    for (i, x) in exts.iter().enumerate() {
        if let Some(o) = at[i] {
            elf.define_symbol(x.sym, shndx, o as u64);
        }
    }
    Ok(())
}

/// Makes the object's BTF one the kernel takes, as libbpf does.
fn fix_btf(elf: &mut Elf, exts: &[Ext], res: &[Res]) -> Result<()> {
    let Some(index) = elf.section(".BTF") else {
        return Ok(());
    };
    let bytes = elf.bytes(index).to_vec();
    let btf = Btf::parse(&bytes).map_err(|e| malformed(format!("its BTF: {e}")))?;
    let mut edit = Edit::new(&btf);
    // The kernel refuses extern linkage on FUNCs.
    for (id, r) in btf.own() {
        if r.kind == b::FUNC && r.vlen as u32 == b::FUNC_EXTERN {
            edit.set_field(id, 1, (b::FUNC << 24) | b::FUNC_GLOBAL);
        }
    }
    if let Some(sec) = btf.datasec(".ksyms") {
        // Each entry becomes a 4-byte int VAR, so the DATASEC is valid.
        let int = btf
            .own()
            .find(|(id, r)| {
                r.kind == b::INT
                    && r.st == 4
                    && btf.name(*id) == "int"
                    && btf.extra(*id, 0) == (1 << 24) | 32
            })
            .map(|(id, _)| id);
        let int = int.unwrap_or_else(|| {
            let name = edit.add_str("int");
            edit.add_type(&[name, b::INT << 24, 4, (1 << 24) | 32])
        });
        let dummy_name = edit.add_str("dummy_ksym");
        let dummy = edit.add_type(&[dummy_name, b::VAR << 24, int, b::VAR_GLOBAL_ALLOCATED]);
        let entries = btf.sec_entries(sec);
        for (n, entry) in entries.iter().enumerate() {
            let is_func = btf.get(entry.type_id).is_some_and(|r| r.kind == b::FUNC);
            if is_func {
                edit.set(entry.at, dummy);
            } else {
                edit.set_field(entry.type_id, 2, int);
                edit.set_field(entry.type_id, 3, b::VAR_GLOBAL_ALLOCATED);
            }
            edit.set(entry.at + 4, (n * 4) as u32);
            edit.set(entry.at + 8, 4);
        }
        edit.set_field(sec, 2, (entries.len() * 4).max(4) as u32);
    }
    if let Some(sec) = btf.datasec(".kconfig") {
        let (at, size) = kconfig_layout(exts, res);
        let offsets: HashMap<u32, (usize, usize)> = exts
            .iter()
            .zip(res)
            .enumerate()
            .filter_map(|(i, (x, r))| Some((x.btf_id, (at[i]?, r.bytes.len()))))
            .collect();
        for entry in btf.sec_entries(sec) {
            let (o, len) = offsets.get(&entry.type_id).copied().unwrap_or((0, 0));
            edit.set(entry.at + 4, o as u32);
            edit.set(entry.at + 8, len as u32);
            edit.set_field(entry.type_id, 3, b::VAR_GLOBAL_ALLOCATED);
        }
        edit.set_field(sec, 2, size.max(8) as u32);
    }
    let out = edit.to_bytes();
    drop(btf);
    elf.replace(index, &out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    /// Compiles BPF C `src` with clang (as `make` does the examples).
    fn compile(name: &str, src: &str) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("bpfx-externs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = dir.join(format!("{name}.c"));
        let o: PathBuf = dir.join(format!("{name}.o"));
        std::fs::write(&c, src).unwrap();
        let out = Command::new(std::env::var("CLANG").unwrap_or_else(|_| "clang".into()))
            .args(["-g", "-O2", "-target", "bpf", "-c"])
            .arg(&c)
            .arg("-o")
            .arg(&o)
            .output()
            .expect("clang runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(&o).unwrap()
    }

    /// A fake kernel: its BTF is that of a C file that defines the kfuncs
    /// and variables, compiled by clang.
    struct Fake {
        btf: &'static [u8],
        index: Btf<'static>,
        modules: Vec<(String, Vec<u8>)>,
        kallsyms: String,
        config: Option<String>,
        release: String,
    }

    impl Kernel for Fake {
        fn vmlinux_btf(&self) -> Result<&Btf<'static>> {
            Ok(&self.index)
        }
        fn module_btfs(&self) -> Vec<(String, Vec<u8>)> {
            self.modules.clone()
        }
        fn kallsyms(&self) -> Result<String> {
            Ok(self.kallsyms.clone())
        }
        fn config(&self) -> Option<(String, String)> {
            self.config.clone().map(|c| ("/fake/config".into(), c))
        }
        fn release(&self) -> String {
            self.release.clone()
        }
    }

    const TYPES: &str = r#"
struct task_struct { int pid; };
struct rq { int cpu; };
enum bpf_func_id { BPF_FUNC_unspec, BPF_FUNC_get_attach_cookie };
"#;

    fn fake() -> Fake {
        let o = compile(
            "vmlinux",
            &format!(
                r#"{TYPES}
struct rq runqueues;
enum bpf_func_id ids;
__attribute__((noinline)) struct task_struct *bpf_task_acquire(struct task_struct *p) {{ return p; }}
__attribute__((noinline)) void bpf_rcu_read_lock(void) {{ }}
__attribute__((noinline)) int bpf_two(int a, int b) {{ return a + b; }}
"#
            ),
        );
        let elf = Elf::parse(o).unwrap();
        let btf: &'static [u8] = elf.bytes(elf.section(".BTF").unwrap()).to_vec().leak();
        Fake {
            btf,
            index: Btf::parse(btf).unwrap(),
            modules: Vec::new(),
            kallsyms: "ffffffff81000000 T _text\nffffffff81234560 T bpf_prog_fops\nffffffff82000000 D runqueues\nffffffff81100000 T __x64_sys_bpf\n".into(),
            config: Some("# comment\nCONFIG_KALLSYMS_ALL=y\nCONFIG_HZ=250\nCONFIG_BPF_SYSCALL=y\nCONFIG_IKCONFIG=m\nCONFIG_DEFAULT_HOSTNAME=\"(none)\"\n# CONFIG_OFF is not set\n".into()),
            release: "6.18.44-test".into(),
        }
    }

    const KSYMS: &str = r#"
#define __ksym __attribute__((section(".ksyms")))
#define __weak __attribute__((weak))
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_not_here(void) __ksym __weak;
extern const struct rq runqueues __ksym;
extern const void bpf_prog_fops __ksym;
extern const void bpf_absent_sym __ksym __weak;
extern int bpf_two(int a, int b) __ksym __weak;
long out;
__attribute__((section("iter/task"), used)) int prog(struct task_struct *t)
{
	bpf_rcu_read_lock();
	t = bpf_task_acquire(t);
	if (bpf_not_here)
		bpf_not_here();
	out = (long)&runqueues + (long)&bpf_prog_fops + (long)&bpf_absent_sym + (bpf_two ? 1 : 0);
	return t->pid;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"#;

    /// The instructions of section `name`, as (code, src_reg, off, imm).
    fn insns(data: &[u8], name: &str) -> Vec<(u8, u8, i16, i32)> {
        let elf = Elf::parse(data.to_vec()).unwrap();
        elf.bytes(elf.section(name).unwrap())
            .chunks(8)
            .map(|i| {
                (
                    i[0],
                    i[1] >> 4,
                    i16::from_le_bytes([i[2], i[3]]),
                    i32::from_le_bytes([i[4], i[5], i[6], i[7]]),
                )
            })
            .collect()
    }

    /// The offsets, in section `target`, that `sym` is relocated at.
    fn relocs_of(data: &[u8], target: &str, sym: &str) -> Vec<usize> {
        let elf = Elf::parse(data.to_vec()).unwrap();
        let syms = elf.symbols();
        let t = elf.section(target).unwrap();
        let (rel, _) = elf
            .code_relocations()
            .into_iter()
            .find(|&(_, x)| x == t)
            .unwrap();
        elf.relocations(rel)
            .into_iter()
            .filter(|r| syms[r.sym].name == sym)
            .map(|r| r.offset / 8)
            .collect()
    }

    fn kernel_id(k: &Fake, name: &str) -> i32 {
        k.index.find_ksym(name).unwrap().0 as i32
    }

    fn features() -> aya_obj::btf::BtfFeatures {
        aya_obj::btf::BtfFeatures::new(true, true, true, true, true, true, true, true)
    }

    #[test]
    fn ksyms_resolve_and_patch_their_instructions() {
        let k = fake();
        let obj = compile("ksyms", &format!("{TYPES}{KSYMS}"));
        let calls = |s| relocs_of(&obj, "iter/task", s);
        let (acquire, lock) = (calls("bpf_task_acquire"), calls("bpf_rcu_read_lock"));
        let not_here = calls("bpf_not_here");
        let (rq, fops, absent) = (
            calls("runqueues"),
            calls("bpf_prog_fops"),
            calls("bpf_absent_sym"),
        );
        let two = calls("bpf_two");
        assert_eq!(not_here.len(), 2, "a load (the test) and a call");

        let linked = link(&obj, &k).unwrap().expect("the object has externs");
        let ins = insns(&linked.data, "iter/task");
        for (at, name) in [
            (acquire[0], "bpf_task_acquire"),
            (lock[0], "bpf_rcu_read_lock"),
        ] {
            assert_eq!(
                ins[at],
                (0x85, 2, 0, kernel_id(&k, name)),
                "kfunc call {name}"
            );
        }
        let (load, call) = (not_here[0], not_here[1]);
        assert_eq!(ins[load].0, 0x18);
        assert_eq!(
            (ins[load].1, ins[load].3, ins[load + 1].3),
            (0, 0, 0),
            "weak kfunc address is 0"
        );
        let sym = Elf::parse(obj.clone())
            .unwrap()
            .symbols()
            .into_iter()
            .find(|s| s.name == "bpf_not_here")
            .unwrap()
            .index as i32;
        assert_eq!(
            ins[call],
            (0x85, 0, 0, POISON_KFUNC + sym),
            "weak kfunc call poisoned"
        );
        let mut refused = Error::new(
            Kind::Verifier,
            "BPF_PROG_LOAD",
            "Cannot load program \"prog\"",
        );
        refused.log = Some(format!(
            "0: (85) call unknown#{}\ninvalid func unknown#{}\n",
            POISON_KFUNC + sym,
            POISON_KFUNC + sym
        ));
        let e = explain(refused, &linked.data);
        assert_eq!(
            e.message,
            "Cannot load program \"prog\": it calls the weak kfunc \"bpf_not_here\", which this kernel lacks"
        );
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .contains("bpf_ksym_exists(bpf_not_here)")
        );
        assert_eq!(
            (ins[rq[0]].1, ins[rq[0]].3),
            (3, kernel_id(&k, "runqueues"))
        );
        assert_eq!(ins[rq[0] + 1].3, 0);
        assert_eq!(
            (ins[fops[0]].1, ins[fops[0]].3, ins[fops[0] + 1].3),
            (0, 0x81234560u32 as i32, -1)
        );
        assert_eq!((ins[absent[0]].1, ins[absent[0]].3), (0, 0));
        assert_eq!(
            (ins[two[0]].0, ins[two[0]].1, ins[two[0]].3),
            (0x18, 3, kernel_id(&k, "bpf_two")),
            "a kfunc's address is a BTF id load"
        );
        for s in [
            "bpf_task_acquire",
            "runqueues",
            "bpf_not_here",
            "bpf_prog_fops",
        ] {
            assert!(
                relocs_of(&linked.data, "iter/task", s).is_empty(),
                "{s} relocation dropped"
            );
        }

        let r: HashMap<&str, &ExternReport> = linked
            .externs
            .iter()
            .map(|x| (x.name.as_str(), x))
            .collect();
        assert_eq!(r["bpf_task_acquire"].kind, ExternKind::KsymFunc);
        assert_eq!(r["runqueues"].kind, ExternKind::KsymVar);
        assert_eq!(r["bpf_prog_fops"].kind, ExternKind::KsymTypeless);
        assert_eq!(
            r["bpf_prog_fops"].address.as_deref(),
            Some("0xffffffff81234560")
        );
        assert!(r["bpf_not_here"].weak && !r["bpf_not_here"].found);

        // aya 0.14 refuses the object as compiled, and takes it linked.
        let mut before = aya_obj::Object::parse(&obj).unwrap();
        let err = before.fixup_and_sanitize_btf(&features()).unwrap_err();
        assert!(err.to_string().contains(".ksyms"), "{err}");
        let mut after = aya_obj::Object::parse(&linked.data).unwrap();
        after.fixup_and_sanitize_btf(&features()).unwrap();
        let text = HashSet::new();
        after.relocate_calls(&text).unwrap();
        // The linked BTF is valid BTF by our own reader too.
        let elf = Elf::parse(linked.data.clone()).unwrap();
        let btf = Btf::parse(elf.bytes(elf.section(".BTF").unwrap())).unwrap();
        let sec = btf.datasec(".ksyms").unwrap();
        assert_eq!(
            btf.get(sec).unwrap().st as usize,
            4 * btf.sec_entries(sec).len()
        );
        for e in btf.sec_entries(sec) {
            assert_eq!(
                btf.get(e.type_id).unwrap().kind,
                b::VAR,
                "every .ksyms entry is a VAR"
            );
        }
        assert!(
            !btf.own()
                .any(|(_, r)| r.kind == b::FUNC && r.vlen as u32 == b::FUNC_EXTERN)
        );
    }

    #[test]
    fn a_strong_extern_the_kernel_lacks_is_refused_by_name() {
        let mut k = fake();
        let obj = compile(
            "strong",
            &format!(
                r#"{TYPES}
extern void bpf_gone(void) __attribute__((section(".ksyms")));
__attribute__((section("iter/task"), used)) int prog(void *c) {{ bpf_gone(); return 0; }}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"#
            ),
        );
        let e = link(&obj, &k).err().unwrap();
        assert_eq!(e.kind, Kind::NotSupported);
        assert_eq!(
            e.message,
            "extern \"bpf_gone\" (kfunc) is not in the running kernel's BTF"
        );
        assert!(e.hint.as_deref().unwrap().contains("__weak"));
        let listed = list(&obj, &k);
        assert_eq!((listed.len(), listed[0].found), (1, false));

        // A typed ksym the kernel cannot give the address of: the config
        // says so, or (without a config) kallsyms does.
        k.kallsyms = "ffffffff81000000 T _text\n".into();
        let obj = compile("var", &format!("{TYPES}{KSYMS}"));
        k.config = Some("CONFIG_HZ=250\n".into());
        let e = link(&obj, &k).err().unwrap();
        assert!(
            e.message.contains(
                "extern \"runqueues\" (ksym) is in the kernel's BTF but not in /proc/kallsyms"
            ),
            "{}",
            e.message
        );
        k.config = None;
        let e = link(&obj, &k).err().unwrap();
        assert!(
            e.message.contains(
                "extern \"runqueues\" (ksym) is in the kernel's BTF but not in /proc/kallsyms"
            ),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("extern \"bpf_prog_fops\" (typeless ksym) is not in /proc/kallsyms"),
            "{}",
            e.message
        );
    }

    /// A module's split BTF over `base`: a FUNC_PROTO and a FUNC `name`.
    fn module_btf(base: &[u8], name: &str) -> Vec<u8> {
        let base = Btf::parse(base).unwrap();
        let first = base.end_id();
        let str_base = base.str_end();
        let mut strs = vec![0u8];
        strs.extend_from_slice(name.as_bytes());
        strs.push(0);
        let mut types = Vec::new();
        for w in [
            0,
            b::FUNC_PROTO << 24,
            0,
            str_base + 1,
            b::FUNC << 24 | b::FUNC_GLOBAL,
            first,
        ] {
            types.extend_from_slice(&w.to_le_bytes());
        }
        let mut out = vec![0x9f, 0xeb, 1, 0];
        for v in [24, 0, types.len(), types.len(), strs.len()] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(&strs);
        out
    }

    #[test]
    fn a_module_kfunc_is_refused_naming_the_module() {
        let mut k = fake();
        k.modules = vec![("fake_mod".into(), module_btf(k.btf, "bpf_mod_func"))];
        let obj = compile(
            "module",
            &format!(
                r#"{TYPES}
extern void bpf_mod_func(void) __attribute__((section(".ksyms")));
__attribute__((section("iter/task"), used)) int prog(void *c) {{ bpf_mod_func(); return 0; }}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"#
            ),
        );
        let e = link(&obj, &k).err().unwrap();
        assert_eq!(
            e.message,
            "extern \"bpf_mod_func\" (kfunc) is in module \"fake_mod\"'s BTF, which bpfx cannot yet pass to the kernel (aya 0.14 sends no fd_array)"
        );
        let listed = list(&obj, &k);
        assert_eq!(listed[0].module.as_deref(), Some("fake_mod"));
    }

    #[test]
    fn a_kfunc_declared_unlike_the_kernels_is_refused() {
        let obj = compile(
            "proto",
            &format!(
                r#"{TYPES}
extern int bpf_two(int a) __attribute__((section(".ksyms")));
__attribute__((section("iter/task"), used)) int prog(void *c) {{ return bpf_two(1); }}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"#
            ),
        );
        let e = link(&obj, &fake()).err().unwrap();
        assert_eq!(
            e.message,
            "extern \"bpf_two\" (kfunc) does not match the kernel's: the object declares 1 arguments, the kernel's has 2"
        );
    }

    const KCONFIG: &str = r#"
#define __kconfig __attribute__((section(".kconfig")))
#define __weak __attribute__((weak))
enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 };
extern int CONFIG_HZ __kconfig;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_IKCONFIG __kconfig;
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern long long CONFIG_ABSENT __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig;
long out;
__attribute__((section("iter/task"), used)) int prog(void *c)
{
	out = CONFIG_HZ + LINUX_KERNEL_VERSION + CONFIG_BPF_SYSCALL + CONFIG_IKCONFIG +
	      LINUX_HAS_BPF_COOKIE + LINUX_HAS_SYSCALL_WRAPPER + CONFIG_ABSENT + CONFIG_DEFAULT_HOSTNAME[1];
	return 0;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"#;

    #[test]
    fn kconfig_values_go_into_a_rodata_section_the_loads_point_at() {
        let k = fake();
        let obj = compile("kconfig", KCONFIG);
        let linked = link(&obj, &k).unwrap().unwrap();
        let elf = Elf::parse(linked.data.clone()).unwrap();
        let sec = elf.section(KCONFIG_SECTION).expect("the kconfig section");
        let data = elf.bytes(sec).to_vec();
        let syms = elf.symbols();
        let value = |name: &str, len: usize| -> Vec<u8> {
            let s = syms.iter().find(|s| s.name == name).unwrap();
            assert_eq!(s.shndx as usize, sec, "{name} points at the section");
            let symtab = elf
                .sections
                .iter()
                .position(|s| s.kind == e::SHT_SYMTAB)
                .unwrap();
            let o = elf.sections[symtab].offset + s.index * e::SYM + 8;
            let off = u64::from_le_bytes(elf.data[o..o + 8].try_into().unwrap()) as usize;
            data[off..off + len].to_vec()
        };
        assert_eq!(value("CONFIG_HZ", 4), 250i32.to_le_bytes());
        assert_eq!(
            value("LINUX_KERNEL_VERSION", 4),
            ((6u32 << 16) + (18 << 8) + 44).to_le_bytes()
        );
        assert_eq!(value("CONFIG_BPF_SYSCALL", 1), [1]);
        assert_eq!(
            value("CONFIG_IKCONFIG", 4),
            2u32.to_le_bytes(),
            "m is TRI_MODULE"
        );
        assert_eq!(value("LINUX_HAS_BPF_COOKIE", 1), [1]);
        assert_eq!(
            value("LINUX_HAS_SYSCALL_WRAPPER", 1),
            [u8::from(syscall_prefix() == "__x64_")]
        );
        assert_eq!(
            value("CONFIG_ABSENT", 8),
            [0; 8],
            "a weak absent value is 0"
        );
        assert_eq!(&value("CONFIG_DEFAULT_HOSTNAME", 8), b"(none)\0\0");

        // aya makes a read-only map of the section and points the loads at it.
        let mut o = aya_obj::Object::parse(&linked.data).unwrap();
        o.fixup_and_sanitize_btf(&features()).unwrap();
        let map = &o.maps[KCONFIG_SECTION];
        assert_eq!(map.data(), &data[..]);
        assert_eq!(map.map_flags() & 0x80, 0x80, "BPF_F_RDONLY_PROG");
        let maps: Vec<(String, aya_obj::Map)> =
            o.maps.iter().map(|(n, m)| (n.clone(), m.clone())).collect();
        let text = HashSet::new();
        o.relocate_maps(maps.iter().map(|(n, m)| (n.as_str(), 7, m)), &text)
            .unwrap();
        let f = o.functions.values().next().unwrap();
        let hz = relocs_of(&obj, "iter/task", "CONFIG_HZ")[0];
        let ins = f.instructions[hz];
        assert_eq!(
            (ins.src_reg(), ins.imm),
            (2, 7),
            "BPF_PSEUDO_MAP_VALUE of the map"
        );

        let r: HashMap<&str, &ExternReport> = linked
            .externs
            .iter()
            .map(|x| (x.name.as_str(), x))
            .collect();
        assert_eq!(r["CONFIG_HZ"].value.as_deref(), Some("250"));
        assert!(!r["CONFIG_ABSENT"].found);
        assert_eq!(
            r["CONFIG_ABSENT"].why.as_deref(),
            Some("not set in /fake/config")
        );
    }

    #[test]
    fn a_strong_absent_kconfig_value_is_refused() {
        let mut k = fake();
        k.config = Some("CONFIG_BPF_SYSCALL=y\n".into());
        let e = link(&compile("kconfig2", KCONFIG), &k).err().unwrap();
        assert!(
            e.message
                .starts_with("extern \"CONFIG_HZ\" (kconfig) is not set in /fake/config"),
            "{}",
            e.message
        );
        k.config = None;
        let e = link(&compile("kconfig3", KCONFIG), &k).err().unwrap();
        assert!(
            e.message.contains("the kernel's config is not readable"),
            "{}",
            e.message
        );
    }

    #[test]
    fn kconfig_values_encode_as_libbpf_does() {
        let int = Kcfg::Int {
            size: 4,
            signed: true,
        };
        assert_eq!(int.encode("250"), Ok(250i32.to_le_bytes().to_vec()));
        assert_eq!(int.encode("-2"), Ok((-2i32).to_le_bytes().to_vec()));
        assert_eq!(int.encode("0x10"), Ok(16i32.to_le_bytes().to_vec()));
        assert_eq!(int.encode("010"), Ok(8i32.to_le_bytes().to_vec()));
        assert!(int.encode("y").is_err());
        assert!(
            Kcfg::Int {
                size: 2,
                signed: false
            }
            .encode("70000")
            .is_err()
        );
        assert_eq!(Kcfg::Bool.encode("y"), Ok(vec![1]));
        assert!(Kcfg::Bool.encode("m").is_err());
        assert_eq!(Kcfg::Tristate.encode("m"), Ok(2u32.to_le_bytes().to_vec()));
        assert_eq!(Kcfg::Char.encode("m"), Ok(vec![b'm']));
        assert_eq!(
            Kcfg::CharArray(4).encode("\"abcdef\""),
            Ok(b"abc\0".to_vec())
        );
        assert!(Kcfg::CharArray(4).encode("12").is_err());
        assert_eq!(kernel_version("6.18.44-fc-v1045"), Some(397868));
        assert_eq!(kernel_version("5.4.300"), Some((5 << 16) + (4 << 8) + 255));
        assert_eq!(kernel_version("6"), None);
    }

    #[test]
    fn an_object_without_externs_is_left_alone() {
        let obj = compile(
            "plain",
            r#"__attribute__((section("iter/task"), used)) int prog(void *c) { return 0; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";"#,
        );
        assert!(link(&obj, &fake()).unwrap().is_none());
        assert!(list(&obj, &fake()).is_empty());
    }
}
