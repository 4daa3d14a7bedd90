//! What an object's headers claim, checked before any ELF parser trusts
//! it: each section inside the file, no huge zeroed section, each symbol
//! inside its section.

use super::headers::{Shdr, cstr_at, headers, section_bytes};

const SHT_NOBITS: u32 = 8;

/// Checks what the ELF parsers would trust blindly: every section with
/// contents lies inside the file, and none without contents (`.bss`) asks for
/// more than `max_alloc` bytes, which aya-obj would allocate (an object
/// claiming a `.bss` of 4 PiB aborts the whole process with an allocation
/// failure, which no panic handler can catch). Refuses such an object before
/// any parser sees it.
pub fn check_bounds(data: &[u8], max_alloc: u64) -> Result<(), String> {
    let (o, shdrs, shstrndx) = headers(data)?;
    let shstr = shdrs.get(shstrndx).and_then(|s| section_bytes(data, s));
    let name = |s: &Shdr| {
        shstr
            .and_then(|t| cstr_at(t, s.name_off as usize))
            .map(|n| format!("section \"{n}\""))
            .unwrap_or_else(|| "a section".into())
    };
    for s in &shdrs {
        if s.sh_type == 0 {
            continue;
        }
        if s.sh_type == SHT_NOBITS {
            if s.size as u64 > max_alloc {
                return Err(format!(
                    "its {} claims {} bytes of zeroed data, over the limit of {max_alloc} bytes",
                    name(s),
                    s.size
                ));
            }
            continue;
        }
        let end = s.offset.checked_add(s.size);
        if end.is_none_or(|e| e > data.len()) {
            return Err(format!(
                "its {} ({} bytes at offset {}) runs past the end of the file ({} bytes)",
                name(s),
                s.size,
                s.offset,
                data.len()
            ));
        }
    }
    // Symbols: each defined one must lie inside its section (aya-obj slices
    // a function's instructions by its address and size, unchecked).
    for symtab in shdrs.iter().filter(|s| s.sh_type == SHT_SYMTAB) {
        let table = section_bytes(data, symtab).ok_or("its symbol table is out of bounds")?;
        if table.len() % SYM_SIZE != 0 {
            return Err("its symbol table is not a whole number of entries".into());
        }
        for (i, sym) in table.chunks_exact(SYM_SIZE).enumerate() {
            let shndx = o.u16(sym, 6).unwrap_or(0) as usize;
            if shndx == 0 || shndx >= 0xff00 {
                continue; // undefined, absolute, common, ...
            }
            let Some(sec) = shdrs.get(shndx) else {
                return Err(format!(
                    "its symbol {i} names section {shndx}, which does not exist"
                ));
            };
            let value = o.u64(sym, 8).unwrap_or(0);
            let size = o.u64(sym, 16).unwrap_or(0);
            let end = value.checked_add(size);
            if end.is_none_or(|e| e > sec.size as u64) {
                return Err(format!(
                    "its symbol {i} ({size} bytes at {value:#x}) runs past the end of its {} ({} bytes)",
                    name(sec),
                    sec.size
                ));
            }
        }
    }
    Ok(())
}

const SHT_SYMTAB: u32 = 2;
const SYM_SIZE: usize = 24;
