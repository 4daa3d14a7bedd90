//! The edits that link externs into the object: instructions and
//! relocations of code, and the BTF, as libbpf's `bpf_object__relocate_data`
//! and `bpf_object__collect_externs` make them.

use super::kconfig::kconfig_layout;
use super::{Ext, ExternKind, POISON_KFUNC, Res, malformed, refuse};
use crate::error::Result;
use crate::object::btf_edit::{self as b, Btf, Edit};
use crate::object::elf_edit::Elf;
use std::collections::HashMap;

/// Rewrites each instruction that refers to a ksym, and drops its
/// relocation (kconfig relocations stay: they now name a data section).
pub(super) fn patch_code(
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

/// Makes the object's BTF one the kernel takes, as libbpf does.
pub(super) fn fix_btf(elf: &mut Elf, exts: &[Ext], res: &[Res]) -> Result<()> {
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
