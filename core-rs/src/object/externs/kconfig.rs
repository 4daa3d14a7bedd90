//! `__kconfig` externs: their values from the kernel's config and uname,
//! encoded as libbpf does for each type, and laid out in `.rodata.kconfig`.

use super::{Ext, ExternKind, KCONFIG_SECTION, Lookup, Res, malformed, refuse};
use crate::error::Result;
use crate::object::btf_edit::{self as b, Btf};
use crate::object::elf_edit::{self as e, Elf};

/// The syscall-wrapper prefix of this architecture, as libbpf knows it.
pub(super) fn syscall_prefix() -> &'static str {
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
pub(super) fn kernel_version(release: &str) -> Option<u32> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || parts.next()?.parse::<u32>().ok();
    let (a, b, c) = (next()?, next()?, next()?);
    Some((a << 16) + (b << 8) + c.min(255))
}

/// How a kconfig value's type takes values (libbpf's `kcfg_type`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kcfg {
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
    pub(super) fn encode(self, value: &str) -> std::result::Result<Vec<u8>, String> {
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

/// The largest `.rodata.kconfig` bpfx makes: every value the kernel's config
/// or uname gives is a line of text, and the section is copied whole into
/// memory at load (and into a kernel map), so a declared size past this is
/// refused before anything of that size is allocated.
pub(super) const KCONFIG_MAX: usize = 1 << 20;

pub(super) fn resolve_kconfig(
    ext: &Ext,
    btf: &Btf<'_>,
    kernel_btf: &Btf<'_>,
    look: &mut Lookup<'_>,
) -> Res {
    let var_type = btf.get(ext.btf_id).map_or(0, |r| r.st);
    let mut res = Res::default();
    let Some(ty) = kcfg_type(btf, var_type) else {
        res.fatal = Some(format!(
            "extern \"{}\" (kconfig) has a type bpfx cannot fill: use a bool, a char, an integer, enum libbpf_tristate or a char array",
            ext.name
        ));
        return res;
    };
    let name = ext.name.as_str();
    let total = look.kconfig_bytes.saturating_add(ty.size());
    if total > KCONFIG_MAX {
        let with = if look.kconfig_bytes == 0 {
            String::new()
        } else {
            format!(" ({total} with the kconfig externs before it)")
        };
        res.fatal = Some(format!(
            "extern \"{name}\" (kconfig) is {} bytes{with}, past the {KCONFIG_MAX} bytes bpfx gives all kconfig values together: declare it smaller",
            ty.size()
        ));
        return res;
    }
    look.kconfig_bytes = total;
    res.bytes = vec![0; ty.size()];
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

/// Where each kconfig extern goes in `.rodata.kconfig`: in the order of the
/// object's `.kconfig` DATASEC, each aligned to its size (1, 2, 4 or 8) or
/// to 1 (char arrays).
/// Its size is at most [`KCONFIG_MAX`] plus the padding of each value, as
/// [`resolve_kconfig`] refuses any one value past it and [`link_kconfig`]
/// refuses a sum past it before allocating.
pub(super) fn kconfig_layout(exts: &[Ext], res: &[Res]) -> (Vec<Option<usize>>, usize) {
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

pub(super) fn link_kconfig(elf: &mut Elf, exts: &[Ext], res: &[Res]) -> Result<()> {
    let (at, size) = kconfig_layout(exts, res);
    if size == 0 {
        return Ok(());
    }
    if size > KCONFIG_MAX {
        return Err(refuse(format!(
            "its __kconfig externs take {size} bytes together, past the {KCONFIG_MAX} bytes bpfx gives all kconfig values: declare them smaller"
        )));
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
