//! Raw BTF as the extern pass needs it: an index of a blob's types (the
//! object's, the kernel's, or a module's split BTF over the kernel's), the
//! few questions it asks of them, and edits that keep every type id and
//! string offset valid (fields patched in place, types and strings added at
//! the end), so `.BTF.ext` still refers to the right things.

pub const INT: u32 = 1;
pub const PTR: u32 = 2;
pub const ARRAY: u32 = 3;
pub const STRUCT: u32 = 4;
pub const UNION: u32 = 5;
pub const ENUM: u32 = 6;
pub const FUNC: u32 = 12;
pub const FUNC_PROTO: u32 = 13;
pub const VAR: u32 = 14;
pub const DATASEC: u32 = 15;
pub const ENUM64: u32 = 19;

/// `BTF_FUNC_GLOBAL`, `BTF_FUNC_EXTERN` and `BTF_VAR_GLOBAL_ALLOCATED`.
pub const FUNC_GLOBAL: u32 = 1;
pub const FUNC_EXTERN: u32 = 2;
pub const VAR_GLOBAL_ALLOCATED: u32 = 1;

fn u32_at(d: &[u8], o: usize) -> u32 {
    d.get(o..o + 4)
        .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
}

/// One type: where its record starts in the type section, and its header.
#[derive(Debug, Clone, Copy)]
pub struct Rec {
    pub off: usize,
    pub kind: u32,
    pub vlen: usize,
    pub kflag: bool,
    pub name_off: u32,
    /// `size` or `type`, by kind.
    pub st: u32,
}

pub struct Btf<'a> {
    types: &'a [u8],
    strs: &'a [u8],
    recs: Vec<Rec>,
    /// The id of `recs[0]`: 1, or one past the base's last id (split BTF).
    first_id: u32,
    /// The string offset where this blob's strings start (split BTF).
    str_base: u32,
    base: Option<&'a Btf<'a>>,
}

/// A DATASEC entry: the type, and where the entry's fields are.
#[derive(Debug, Clone, Copy)]
pub struct SecEntry {
    pub at: usize,
    pub type_id: u32,
}

impl<'a> Btf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, String> {
        Self::parse_split(data, None)
    }

    /// Parses `data`; with a base, as split BTF whose ids and strings
    /// follow the base's.
    pub fn parse_split(data: &'a [u8], base: Option<&'a Btf<'a>>) -> Result<Self, String> {
        if data.get(0..2) != Some(&[0x9f, 0xeb]) {
            return Err("no BTF magic".into());
        }
        let hdr = u32_at(data, 4) as usize;
        let (toff, tlen) = (u32_at(data, 8) as usize, u32_at(data, 12) as usize);
        let (soff, slen) = (u32_at(data, 16) as usize, u32_at(data, 20) as usize);
        let types = data
            .get(hdr + toff..hdr + toff + tlen)
            .ok_or("type section out of bounds")?;
        let strs = data
            .get(hdr + soff..hdr + soff + slen)
            .ok_or("string section out of bounds")?;
        let mut recs = Vec::new();
        let mut off = 0;
        while off + 12 <= types.len() {
            let info = u32_at(types, off + 4);
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let extra = match kind {
                INT | VAR | 17 => 4,
                ARRAY => 12,
                STRUCT | UNION => vlen * 12,
                ENUM | FUNC_PROTO => vlen * 8,
                DATASEC | ENUM64 => vlen * 12,
                _ => 0,
            };
            recs.push(Rec {
                off,
                kind,
                vlen,
                kflag: info >> 31 == 1,
                name_off: u32_at(types, off),
                st: u32_at(types, off + 8),
            });
            off += 12 + extra;
        }
        if off != types.len() {
            return Err("truncated type section".into());
        }
        let (first_id, str_base) = match base {
            Some(b) => (
                b.first_id + b.recs.len() as u32,
                b.str_base + b.strs.len() as u32,
            ),
            None => (1, 0),
        };
        Ok(Btf {
            types,
            strs,
            recs,
            first_id,
            str_base,
            base,
        })
    }

    /// The string offset one past this blob's strings (where a split
    /// BTF's strings start).
    pub fn str_end(&self) -> u32 {
        self.str_base + self.strs.len() as u32
    }

    /// One past the last id.
    pub fn end_id(&self) -> u32 {
        self.first_id + self.recs.len() as u32
    }

    pub fn get(&self, id: u32) -> Option<Rec> {
        if id < self.first_id {
            return self.base.and_then(|b| b.get(id));
        }
        self.recs.get((id - self.first_id) as usize).copied()
    }

    fn words(&self, id: u32) -> Option<&[u8]> {
        if id < self.first_id {
            return self.base.and_then(|b| b.words(id));
        }
        let r = self.recs.get((id - self.first_id) as usize)?;
        Some(&self.types[r.off..])
    }

    /// The `k`-th u32 after the 12-byte header of type `id`.
    pub fn extra(&self, id: u32, k: usize) -> u32 {
        self.words(id).map_or(0, |w| u32_at(w, 12 + 4 * k))
    }

    pub fn name_bytes(&self, off: u32) -> &[u8] {
        if off < self.str_base {
            return self.base.map_or(&[], |b| b.name_bytes(off));
        }
        let rest = self
            .strs
            .get((off - self.str_base) as usize..)
            .unwrap_or(&[]);
        &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
    }

    /// Whether the string at `off` is `name`, without scanning for its end.
    pub fn name_is(&self, off: u32, name: &str) -> bool {
        if off < self.str_base {
            return self.base.is_some_and(|b| b.name_is(off, name));
        }
        let at = (off - self.str_base) as usize;
        let n = name.len();
        self.strs.get(at..at + n) == Some(name.as_bytes()) && self.strs.get(at + n) == Some(&0)
    }

    pub fn name(&self, id: u32) -> String {
        self.get(id).map_or_else(String::new, |r| {
            String::from_utf8_lossy(self.name_bytes(r.name_off)).into_owned()
        })
    }

    /// This blob's own types (not the base's), as (id, record).
    pub fn own(&self) -> impl Iterator<Item = (u32, Rec)> + '_ {
        (self.first_id..).zip(self.recs.iter().copied())
    }

    /// Looks through typedefs, qualifiers and type tags.
    pub fn skip_mods(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.get(id) {
                Some(r) if matches!(r.kind, 8..=11 | 18) => id = r.st,
                _ => break,
            }
        }
        id
    }

    /// The size of type `id` in bytes, if it has one.
    pub fn size_of(&self, id: u32) -> Option<u64> {
        let id = self.skip_mods(id);
        let r = self.get(id)?;
        match r.kind {
            INT | STRUCT | UNION | ENUM | ENUM64 | 16 => Some(u64::from(r.st)),
            PTR => Some(8),
            ARRAY => {
                let n = u64::from(self.extra(id, 2));
                Some(n * self.size_of(self.extra(id, 0))?)
            }
            _ => None,
        }
    }

    /// The entries of DATASEC `id`.
    pub fn sec_entries(&self, id: u32) -> Vec<SecEntry> {
        let Some(r) = self.get(id).filter(|r| r.kind == DATASEC) else {
            return Vec::new();
        };
        (0..r.vlen)
            .map(|i| {
                let at = r.off + 12 + i * 12;
                SecEntry {
                    at,
                    type_id: u32_at(self.types, at),
                }
            })
            .collect()
    }

    /// The parameter types of FUNC_PROTO `id`.
    pub fn params(&self, id: u32) -> Vec<u32> {
        let vlen = self.get(id).map_or(0, |r| r.vlen);
        (0..vlen).map(|i| self.extra(id, 2 * i + 1)).collect()
    }

    /// The first DATASEC named `name`.
    pub fn datasec(&self, name: &str) -> Option<u32> {
        self.own()
            .find(|(_, r)| r.kind == DATASEC && self.name_is(r.name_off, name))
            .map(|(id, _)| id)
    }

    /// The first FUNC or VAR of this blob named `name`.
    pub fn find_ksym(&self, name: &str) -> Option<(u32, Rec)> {
        self.own()
            .find(|(_, r)| matches!(r.kind, FUNC | VAR) && self.name_is(r.name_off, name))
    }

    /// Whether enum `enum_name` has a member named `member`.
    pub fn has_enum_member(&self, enum_name: &str, member: &str) -> bool {
        self.own()
            .filter(|(_, r)| r.kind == ENUM && self.name_is(r.name_off, enum_name))
            .any(|(id, r)| (0..r.vlen).any(|i| self.name_is(self.extra(id, 2 * i), member)))
    }

    /// What a type is, for comparing an object's declaration with the
    /// kernel's: scalars (ints and enums) alike, pointers alike, structs and
    /// unions by kind and name.
    pub fn shape(&self, id: u32) -> String {
        if id == 0 {
            return "void".into();
        }
        let id = self.skip_mods(id);
        match self.get(id).map(|r| r.kind) {
            Some(INT | ENUM | ENUM64) => "scalar".into(),
            Some(PTR) => "pointer".into(),
            Some(STRUCT) => format!("struct {}", self.name(id)),
            Some(UNION) => format!("union {}", self.name(id)),
            Some(ARRAY) => "array".into(),
            Some(k) => format!("kind {k}"),
            None => "unknown".into(),
        }
    }
}

/// Edits of one (non-split) BTF blob.
pub struct Edit<'a> {
    btf: &'a Btf<'a>,
    patches: Vec<(usize, u32)>,
    new_types: Vec<u8>,
    new_strs: Vec<u8>,
    next_id: u32,
}

impl<'a> Edit<'a> {
    pub fn new(btf: &'a Btf<'a>) -> Self {
        Edit {
            btf,
            patches: Vec::new(),
            new_types: Vec::new(),
            new_strs: Vec::new(),
            next_id: btf.end_id(),
        }
    }

    /// Sets the u32 at `at` in the type section.
    pub fn set(&mut self, at: usize, value: u32) {
        self.patches.push((at, value));
    }

    /// Sets the `k`-th u32 of type `id`'s record (0 name, 1 info, 2
    /// size/type, 3... the kind's data).
    pub fn set_field(&mut self, id: u32, k: usize, value: u32) {
        if let Some(r) = self.btf.get(id) {
            self.set(r.off + 4 * k, value);
        }
    }

    pub fn add_str(&mut self, s: &str) -> u32 {
        let off = (self.btf.strs.len() + self.new_strs.len()) as u32;
        self.new_strs.extend_from_slice(s.as_bytes());
        self.new_strs.push(0);
        off
    }

    /// Adds a type from its u32 words; returns its id.
    pub fn add_type(&mut self, words: &[u32]) -> u32 {
        for w in words {
            self.new_types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }

    /// The edited blob: header, types, strings.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut types = self.btf.types.to_vec();
        for &(at, v) in &self.patches {
            types[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        types.extend_from_slice(&self.new_types);
        let strs_len = self.btf.strs.len() + self.new_strs.len();
        let mut out = vec![0x9f, 0xeb, 1, 0];
        for v in [24, 0, types.len(), types.len(), strs_len] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(self.btf.strs);
        out.extend_from_slice(&self.new_strs);
        out
    }
}
