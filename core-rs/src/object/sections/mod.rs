//! Program sections aya 0.14 cannot read, made readable before it sees the
//! bytes.
//!
//! aya-obj 0.3 parses every executable section's name with
//! `ProgramSection::from_str`, and one name it does not know makes the whole
//! object unreadable. This pass runs on the ELF bytes first and rewrites
//! what aya would refuse, keeping the section headers' count and order:
//!
//! - `?name` (libbpf: "not loaded unless asked"): the section header's
//!   `sh_name` and the `.BTF.ext` records' section name offsets move one
//!   byte on, past the `?`, so aya reads `name` and finds its func_info,
//!   line_info and CO-RE records. The program is marked optional. Beside a
//!   section that is already `name`, it becomes `name/` instead (aya keys
//!   sections by name), with that name appended to both string tables.
//! - a program section this load does not want: hidden, as below.
//! - a section aya has no program type for (`syscall`, `tc/ingress`,
//!   `struct_ops/...`): its `SHF_EXECINSTR` flag is cleared so that aya
//!   takes it for data it does not need, and its CO-RE records are dropped
//!   from `.BTF.ext` (aya would look for their functions). bpfx links and
//!   loads `syscall` programs itself (see `linker.rs`); the others are listed
//!   as unsupported, with why.
//!
//! Everything else is left as it was, byte for byte, but for string tables
//! that grow, which move to the end of the file.
//!
//! This file holds the executable sections (`ProgSection`, `scan`); its
//! parts:
//! - `kinds`: how bpfx handles each section name (`Handling`);
//! - `prepare`: the bytes aya is shown (`prepare`, `without_btf_ext`);
//! - `bounds`: what the headers claim, checked before any parser trusts it;
//! - `btf_ext`: the `.BTF.ext` records, renamed or dropped by section name;
//! - `headers`: the ELF64 section headers, in the object's byte order.

mod bounds;
mod btf_ext;
mod headers;
mod kinds;
mod prepare;

pub use bounds::check_bounds;
use headers::{SHF_EXECINSTR, SHT_PROGBITS, cstr_at, headers, section_bytes};
use kinds::aya_known_kind;
pub use kinds::{Handling, handling, libbpf_type};
pub use prepare::{Prepared, prepare, without_btf_ext};

/// One executable section that is not `.text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgSection {
    pub index: usize,
    /// The name as written in the object, `?` included.
    pub name: String,
    /// The name aya and the kernel see: without the `?`.
    pub kind_name: String,
    /// Whether the name starts with `?`: loaded only when asked for.
    pub optional: bool,
    pub handling: Handling,
    /// CO-RE relocation records dropped from aya's view (hidden sections).
    pub core_relos: usize,
}

/// The executable sections of `data` that are not `.text`, unchanged.
pub fn scan(data: &[u8]) -> Result<Vec<ProgSection>, String> {
    let (_, shdrs, shstrndx) = headers(data)?;
    let shstr = shdrs
        .get(shstrndx)
        .and_then(|s| section_bytes(data, s))
        .ok_or("its section name table is out of bounds")?;
    let mut sections = Vec::new();
    for (index, s) in shdrs.iter().enumerate() {
        let name = cstr_at(shstr, s.name_off as usize).unwrap_or("");
        if s.sh_type != SHT_PROGBITS
            || s.flags & SHF_EXECINSTR == 0
            || s.size == 0
            || aya_known_kind(name)
        {
            continue;
        }
        let (optional, kind_name) = match name.strip_prefix('?') {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        sections.push(ProgSection {
            index,
            handling: handling(kind_name),
            name: name.to_string(),
            kind_name: kind_name.to_string(),
            optional,
            core_relos: 0,
        });
    }
    Ok(sections)
}

#[cfg(test)]
pub(crate) mod tests {
    /// A hand-made little-endian ELF64 object: the given sections (name,
    /// type, flags, data) after a null section, with `.shstrtab` last.
    pub fn elf(sections: &[(&str, u32, u64, Vec<u8>)]) -> Vec<u8> {
        let mut shstr = vec![0u8];
        let mut names = Vec::new();
        for (n, ..) in sections.iter() {
            names.push(shstr.len() as u32);
            shstr.extend_from_slice(n.as_bytes());
            shstr.push(0);
        }
        let shstr_name = shstr.len() as u32;
        shstr.extend_from_slice(b".shstrtab\0");
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // little-endian
        out[6] = 1;
        out[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
        out[18..20].copy_from_slice(&247u16.to_le_bytes()); // EM_BPF
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        let mut offsets = Vec::new();
        for (.., d) in sections.iter() {
            offsets.push(out.len());
            out.extend_from_slice(d);
        }
        let shstr_off = out.len();
        out.extend_from_slice(&shstr);
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        let shoff = out.len();
        out.extend_from_slice(&[0u8; 64]); // the null section
        let mut hdr = |name: u32, ty: u32, flags: u64, off: usize, size: usize| {
            let mut h = [0u8; 64];
            h[0..4].copy_from_slice(&name.to_le_bytes());
            h[4..8].copy_from_slice(&ty.to_le_bytes());
            h[8..16].copy_from_slice(&flags.to_le_bytes());
            h[24..32].copy_from_slice(&(off as u64).to_le_bytes());
            h[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            h[48..56].copy_from_slice(&8u64.to_le_bytes());
            out.extend_from_slice(&h);
        };
        for (i, (_, ty, flags, d)) in sections.iter().enumerate() {
            hdr(names[i], *ty, *flags, offsets[i], d.len());
        }
        hdr(shstr_name, 3, 0, shstr_off, shstr.len());
        let shnum = sections.len() as u16 + 2;
        out[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        out[0x34..0x36].copy_from_slice(&64u16.to_le_bytes());
        out[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        out[0x3c..0x3e].copy_from_slice(&shnum.to_le_bytes());
        out[0x3e..0x40].copy_from_slice(&(shnum - 1).to_le_bytes());
        out
    }
}
