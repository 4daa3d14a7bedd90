//! In-place edits of a little-endian ELF64 relocatable object, enough for
//! the extern pass: patch instructions and symbols, drop relocation entries,
//! replace a section's bytes and add a section.
//!
//! Edits never move what is there: a section whose bytes grow and every new
//! section go to the end of the file, with a new section header table (and
//! section name table) after them, so every section index and every file
//! offset that other sections name stays valid.

const SHDR: usize = 64;
pub const SYM: usize = 24;
pub const REL: usize = 16;
pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_REL: u32 = 9;
pub const SHF_ALLOC: u64 = 2;
pub const SHF_EXECINSTR: u64 = 4;
pub const SHN_UNDEF: u16 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
pub const STT_OBJECT: u8 = 1;

fn u16_at(d: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(d: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(d: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(o..o + 8)?.try_into().ok()?))
}

/// One section header, as read.
#[derive(Debug, Clone)]
pub struct Shdr {
    pub name: String,
    pub kind: u32,
    pub flags: u64,
    pub offset: usize,
    pub size: usize,
    pub link: u32,
    pub info: u32,
    raw: [u8; SHDR],
}

/// One symbol of `.symtab`.
#[derive(Debug, Clone)]
pub struct Sym {
    pub index: usize,
    pub name: String,
    pub bind: u8,
    pub shndx: u16,
}

/// One relocation entry of a `SHT_REL` section.
#[derive(Debug, Clone, Copy)]
pub struct Rel {
    /// Offset of the entry in the file.
    pub at: usize,
    /// Offset in the target section.
    pub offset: usize,
    pub sym: usize,
    pub kind: u32,
}

pub struct Elf {
    pub data: Vec<u8>,
    pub sections: Vec<Shdr>,
    shstrndx: usize,
    /// Section header table changes: written out by `finish`.
    headers_dirty: bool,
}

impl Elf {
    /// Reads the section headers of a little-endian ELF64 object.
    pub fn parse(data: Vec<u8>) -> Result<Self, String> {
        let bad = |w: &str| format!("malformed ELF: {w}");
        if data.get(0..4) != Some(b"\x7fELF") || data.get(4) != Some(&2) || data.get(5) != Some(&1)
        {
            return Err("not a little-endian ELF64 file".into());
        }
        let shoff = u64_at(&data, 0x28).ok_or_else(|| bad("header"))? as usize;
        let shentsize = u16_at(&data, 0x3a).ok_or_else(|| bad("header"))? as usize;
        let shnum = u16_at(&data, 0x3c).ok_or_else(|| bad("header"))? as usize;
        let shstrndx = u16_at(&data, 0x3e).ok_or_else(|| bad("header"))? as usize;
        if shentsize != SHDR || shnum == 0 || shstrndx >= shnum {
            return Err(bad("section header table"));
        }
        let mut sections = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let o = shoff + i * SHDR;
            let raw: [u8; SHDR] = data
                .get(o..o + SHDR)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| bad("section header out of bounds"))?;
            let kind = u32_at(&raw, 4).unwrap_or(0);
            let offset = u64_at(&raw, 24).unwrap_or(0) as usize;
            let size = u64_at(&raw, 32).unwrap_or(0) as usize;
            // SHT_NOBITS (8) has no bytes in the file.
            if kind != 8 && kind != 0 && offset.checked_add(size).is_none_or(|e| e > data.len()) {
                return Err(bad("section out of bounds"));
            }
            sections.push(Shdr {
                name: String::new(),
                kind,
                flags: u64_at(&raw, 8).unwrap_or(0),
                offset,
                size,
                link: u32_at(&raw, 40).unwrap_or(0),
                info: u32_at(&raw, 44).unwrap_or(0),
                raw,
            });
        }
        let strtab = sections[shstrndx].clone();
        for s in &mut sections {
            let off = u32_at(&s.raw, 0).unwrap_or(0) as usize;
            s.name = cstr(&data[strtab.offset..strtab.offset + strtab.size], off);
        }
        Ok(Elf {
            data,
            sections,
            shstrndx,
            headers_dirty: false,
        })
    }

    pub fn section(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.name == name)
    }

    pub fn bytes(&self, index: usize) -> &[u8] {
        let s = &self.sections[index];
        &self.data[s.offset..s.offset + s.size]
    }

    /// The symbols of `.symtab`, with their names.
    pub fn symbols(&self) -> Vec<Sym> {
        let Some(symtab) = self.sections.iter().position(|s| s.kind == SHT_SYMTAB) else {
            return Vec::new();
        };
        let strtab = self.sections[symtab].link as usize;
        if strtab >= self.sections.len() {
            return Vec::new();
        }
        let (d, strs) = (self.bytes(symtab), self.bytes(strtab));
        (0..d.len() / SYM)
            .map(|i| {
                let o = i * SYM;
                Sym {
                    index: i,
                    name: cstr(strs, u32_at(d, o).unwrap_or(0) as usize),
                    bind: d[o + 4] >> 4,
                    shndx: u16_at(d, o + 6).unwrap_or(0),
                }
            })
            .collect()
    }

    /// Points symbol `index` at `value` in section `shndx`, as a data object.
    pub fn define_symbol(&mut self, index: usize, shndx: u16, value: u64) {
        let Some(symtab) = self.sections.iter().position(|s| s.kind == SHT_SYMTAB) else {
            return;
        };
        let o = self.sections[symtab].offset + index * SYM;
        let bind = self.data[o + 4] >> 4;
        self.data[o + 4] = (bind << 4) | STT_OBJECT;
        self.data[o + 6..o + 8].copy_from_slice(&shndx.to_le_bytes());
        self.data[o + 8..o + 16].copy_from_slice(&value.to_le_bytes());
    }

    /// The relocation sections that apply to code (their target section
    /// executable), each with its target section's index.
    pub fn code_relocations(&self) -> Vec<(usize, usize)> {
        self.sections
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == SHT_REL)
            .filter_map(|(i, s)| {
                let target = s.info as usize;
                let t = self.sections.get(target)?;
                (t.flags & SHF_EXECINSTR != 0).then_some((i, target))
            })
            .collect()
    }

    pub fn relocations(&self, index: usize) -> Vec<Rel> {
        let s = &self.sections[index];
        (0..s.size / REL)
            .map(|i| {
                let at = s.offset + i * REL;
                let info = u64_at(&self.data, at + 8).unwrap_or(0);
                Rel {
                    at,
                    offset: u64_at(&self.data, at).unwrap_or(0) as usize,
                    sym: (info >> 32) as usize,
                    kind: info as u32,
                }
            })
            .collect()
    }

    /// Removes the entries of relocation section `index` for which `drop`
    /// is true, moving the others up and shrinking the section.
    pub fn drop_relocations(&mut self, index: usize, drop: impl Fn(&Rel) -> bool) {
        let rels = self.relocations(index);
        let start = self.sections[index].offset;
        let mut kept = 0;
        for r in &rels {
            if drop(r) {
                continue;
            }
            let to = start + kept * REL;
            self.data.copy_within(r.at..r.at + REL, to);
            kept += 1;
        }
        if kept != rels.len() {
            let end = start + rels.len() * REL;
            self.data[start + kept * REL..end].fill(0);
            self.set_size(index, kept * REL);
        }
    }

    fn set_size(&mut self, index: usize, size: usize) {
        let s = &mut self.sections[index];
        s.size = size;
        s.raw[32..40].copy_from_slice(&(size as u64).to_le_bytes());
        self.headers_dirty = true;
    }

    fn set_offset(&mut self, index: usize, offset: usize) {
        let s = &mut self.sections[index];
        s.offset = offset;
        s.raw[24..32].copy_from_slice(&(offset as u64).to_le_bytes());
        self.headers_dirty = true;
    }

    /// Appends `bytes` at the end of the file, aligned to 8.
    fn append(&mut self, bytes: &[u8]) -> usize {
        let at = self.data.len().next_multiple_of(8);
        self.data.resize(at, 0);
        self.data.extend_from_slice(bytes);
        at
    }

    /// Gives section `index` new contents (at the end of the file when they
    /// do not fit where the old ones are).
    pub fn replace(&mut self, index: usize, bytes: &[u8]) {
        let s = &self.sections[index];
        if bytes.len() <= s.size {
            let o = s.offset;
            self.data[o..o + bytes.len()].copy_from_slice(bytes);
        } else {
            let at = self.append(bytes);
            self.set_offset(index, at);
        }
        self.set_size(index, bytes.len());
    }

    /// Adds a section of `kind` and `flags` holding `bytes`; returns its index.
    pub fn add_section(&mut self, name: &str, kind: u32, flags: u64, bytes: &[u8]) -> usize {
        let mut names = self.bytes(self.shstrndx).to_vec();
        let name_off = names.len() as u32;
        names.extend_from_slice(name.as_bytes());
        names.push(0);
        let strndx = self.shstrndx;
        self.replace(strndx, &names);
        let at = self.append(bytes);
        let mut raw = [0u8; SHDR];
        raw[0..4].copy_from_slice(&name_off.to_le_bytes());
        raw[4..8].copy_from_slice(&kind.to_le_bytes());
        raw[8..16].copy_from_slice(&flags.to_le_bytes());
        raw[24..32].copy_from_slice(&(at as u64).to_le_bytes());
        raw[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        raw[48..56].copy_from_slice(&8u64.to_le_bytes());
        self.sections.push(Shdr {
            name: name.into(),
            kind,
            flags,
            offset: at,
            size: bytes.len(),
            link: 0,
            info: 0,
            raw,
        });
        self.headers_dirty = true;
        self.sections.len() - 1
    }

    /// The edited file: a new section header table at the end if any header
    /// changed.
    pub fn finish(mut self) -> Vec<u8> {
        if self.headers_dirty {
            let table: Vec<u8> = self.sections.iter().flat_map(|s| s.raw).collect();
            let at = self.append(&table);
            self.data[0x28..0x30].copy_from_slice(&(at as u64).to_le_bytes());
            let n = self.sections.len() as u16;
            self.data[0x3c..0x3e].copy_from_slice(&n.to_le_bytes());
        }
        self.data
    }
}

/// The NUL-terminated string at `off` of a string table.
pub fn cstr(strs: &[u8], off: usize) -> String {
    let Some(rest) = strs.get(off..) else {
        return String::new();
    };
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}
