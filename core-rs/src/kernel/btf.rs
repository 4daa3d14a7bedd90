//! A small reader of raw BTF: enough to find a type by name and list an
//! enum's members, which aya's `Btf` does not expose.

use crate::error::{Error, Kind, Result};

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

const KIND_ENUM: u32 = 6;
const KIND_FUNC: u32 = 12;
const KIND_ENUM64: u32 = 19;

pub struct RawBtf {
    data: Vec<u8>,
    types: usize,
    types_end: usize,
    strs: usize,
    strs_end: usize,
}

struct Ty {
    id: u32,
    name_off: u32,
    kind: u32,
    vlen: usize,
    /// Offset of the kind-specific data after the common header.
    extra: usize,
}

fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(off..off + 4)?.try_into().ok()?))
}

impl RawBtf {
    pub fn parse(data: Vec<u8>) -> Result<Self> {
        let bad = || Error::new(Kind::Invalid, "parse", "The BTF data is malformed");
        if data.get(0..2) != Some(&[0x9f, 0xeb]) {
            return Err(bad());
        }
        let hdr_len = u32_at(&data, 4).ok_or_else(bad)? as usize;
        let type_off = u32_at(&data, 8).ok_or_else(bad)? as usize;
        let type_len = u32_at(&data, 12).ok_or_else(bad)? as usize;
        let str_off = u32_at(&data, 16).ok_or_else(bad)? as usize;
        let str_len = u32_at(&data, 20).ok_or_else(bad)? as usize;
        let types = hdr_len + type_off;
        let strs = hdr_len + str_off;
        if types + type_len > data.len() || strs + str_len > data.len() {
            return Err(bad());
        }
        Ok(RawBtf {
            types,
            types_end: types + type_len,
            strs,
            strs_end: strs + str_len,
            data,
        })
    }

    /// The running kernel's BTF, read once per process.
    pub fn kernel() -> Result<&'static RawBtf> {
        static CELL: std::sync::OnceLock<RawBtf> = std::sync::OnceLock::new();
        if let Some(b) = CELL.get() {
            return Ok(b);
        }
        let b = Self::vmlinux()?;
        Ok(CELL.get_or_init(|| b))
    }

    pub fn vmlinux() -> Result<Self> {
        let data = std::fs::read(VMLINUX)
            .map_err(|e| Error::io(format!("Cannot read kernel BTF \"{VMLINUX}\""), "open", &e))?;
        Self::parse(data)
    }

    /// The raw blob.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    fn str_at(&self, off: u32) -> &str {
        let start = self.strs + off as usize;
        if start >= self.strs_end {
            return "";
        }
        let end = self.data[start..self.strs_end]
            .iter()
            .position(|&b| b == 0)
            .map_or(self.strs_end, |p| start + p);
        std::str::from_utf8(&self.data[start..end]).unwrap_or("")
    }

    fn iter(&self) -> impl Iterator<Item = Ty> + '_ {
        let mut off = self.types;
        let mut id = 0u32;
        std::iter::from_fn(move || {
            if off + 12 > self.types_end {
                return None;
            }
            id += 1;
            let name_off = u32_at(&self.data, off)?;
            let info = u32_at(&self.data, off + 4)?;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let extra = off + 12;
            let size = match kind {
                1 | 14 | 17 => 4,     // int, var, decl_tag
                3 => 12,              // array
                4 | 5 => vlen * 12,   // struct, union
                6 | 13 => vlen * 8,   // enum, func_proto
                15 | 19 => vlen * 12, // datasec, enum64
                _ => 0,
            };
            off = extra + size;
            Some(Ty {
                id,
                name_off,
                kind,
                vlen,
                extra,
            })
        })
    }

    /// The id of the first type of `kind` named `name`.
    fn find(&self, name: &str, kind: u32) -> Option<Ty> {
        self.iter()
            .find(|t| t.kind == kind && self.str_at(t.name_off) == name)
    }

    /// The id of function `name`, if the kernel has it.
    pub fn func_id(&self, name: &str) -> Option<u32> {
        self.find(name, KIND_FUNC).map(|t| t.id)
    }

    /// The name of type `id`, if it exists.
    pub fn name_of(&self, id: u32) -> Option<&str> {
        self.iter()
            .find(|t| t.id == id)
            .map(|t| self.str_at(t.name_off))
    }

    /// Describes type `id` for encoding and decoding values in TypeScript:
    /// qualifiers and typedefs are looked through (a typedef's name is kept
    /// as `name`), and nesting is limited so a cycle cannot run away.
    pub fn describe(&self, id: u32) -> serde_json::Value {
        let index: Vec<Ty> = self.iter().collect();
        self.describe_in(&index, id, 0)
    }

    fn describe_in(&self, index: &[Ty], id: u32, depth: u32) -> serde_json::Value {
        use serde_json::json;
        if id == 0 {
            return json!({ "kind": "void", "size": 0 });
        }
        let Some(t) = index.get(id as usize - 1) else {
            return json!({ "kind": "unknown", "size": 0 });
        };
        if depth > 32 {
            return json!({ "kind": "unknown", "size": 0 });
        }
        let d = &self.data;
        let header = t.extra - 12;
        let info = u32_at(d, header + 4).unwrap_or(0);
        let kind_flag = info >> 31 == 1;
        let size_or_type = u32_at(d, header + 8).unwrap_or(0);
        let name = self.str_at(t.name_off).to_string();
        let named = |mut v: serde_json::Value| {
            if !name.is_empty() {
                v["name"] = json!(name);
            }
            v
        };
        match t.kind {
            1 => {
                let enc = u32_at(d, t.extra).unwrap_or(0);
                let encoding = (enc >> 24) & 0xf;
                named(json!({
                    "kind": "int",
                    "size": size_or_type,
                    "bits": enc & 0xff,
                    "signed": encoding & 1 != 0,
                    "char": encoding & 2 != 0,
                    "bool": encoding & 4 != 0,
                }))
            }
            2 => named(json!({ "kind": "ptr", "size": 8 })),
            3 => {
                let elem = u32_at(d, t.extra).unwrap_or(0);
                let len = u32_at(d, t.extra + 8).unwrap_or(0);
                let e = self.describe_in(index, elem, depth + 1);
                let size = e["size"].as_u64().unwrap_or(0) * u64::from(len);
                json!({ "kind": "array", "len": len, "size": size, "elem": e })
            }
            4 | 5 => {
                let members: Vec<serde_json::Value> = (0..t.vlen)
                    .map(|i| {
                        let m = t.extra + i * 12;
                        let mname = self.str_at(u32_at(d, m).unwrap_or(0)).to_string();
                        let mtype = u32_at(d, m + 4).unwrap_or(0);
                        let off = u32_at(d, m + 8).unwrap_or(0);
                        let (bit_offset, bitfield) = if kind_flag {
                            (off & 0xff_ffff, off >> 24)
                        } else {
                            (off, 0)
                        };
                        json!({
                            "name": mname,
                            "bitOffset": bit_offset,
                            "bitfieldSize": bitfield,
                            "type": self.describe_in(index, mtype, depth + 1),
                        })
                    })
                    .collect();
                named(json!({
                    "kind": if t.kind == 4 { "struct" } else { "union" },
                    "size": size_or_type,
                    "members": members,
                }))
            }
            6 | 19 => {
                let stride = if t.kind == 6 { 8 } else { 12 };
                let values: Vec<serde_json::Value> = (0..t.vlen)
                    .map(|i| {
                        let m = t.extra + i * stride;
                        let vname = self.str_at(u32_at(d, m).unwrap_or(0)).to_string();
                        let lo = u32_at(d, m + 4).unwrap_or(0);
                        let value: i128 = if t.kind == 6 {
                            if kind_flag {
                                i128::from(lo as i32)
                            } else {
                                i128::from(lo)
                            }
                        } else {
                            let hi = u32_at(d, m + 8).unwrap_or(0);
                            let v = (u64::from(hi) << 32) | u64::from(lo);
                            if kind_flag {
                                i128::from(v as i64)
                            } else {
                                i128::from(v)
                            }
                        };
                        json!({ "name": vname, "value": value.to_string() })
                    })
                    .collect();
                named(
                    json!({ "kind": "enum", "size": size_or_type, "signed": kind_flag, "values": values }),
                )
            }
            16 => named(json!({ "kind": "float", "size": size_or_type })),
            8 => {
                let mut inner = self.describe_in(index, size_or_type, depth + 1);
                if inner.get("name").is_none() {
                    inner["name"] = json!(name);
                }
                inner["typedef"] = json!(name);
                inner
            }
            9 | 10 | 11 | 18 => self.describe_in(index, size_or_type, depth + 1),
            7 => json!({ "kind": "fwd", "size": 0, "name": name }),
            _ => json!({ "kind": "unknown", "size": 0 }),
        }
    }

    /// The member names of enum `name` (plain or 64-bit).
    pub fn enum_members(&self, name: &str) -> Option<Vec<String>> {
        let t = self
            .find(name, KIND_ENUM)
            .or_else(|| self.find(name, KIND_ENUM64))?;
        let stride = if t.kind == KIND_ENUM { 8 } else { 12 };
        Some(
            (0..t.vlen)
                .filter_map(|i| u32_at(&self.data, t.extra + i * stride))
                .map(|off| self.str_at(off).to_string())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob with one enum `e { A, B }` and one func `f`.
    fn blob() -> Vec<u8> {
        let strs = b"\0e\0A\0B\0f\0".to_vec();
        let mut types = Vec::new();
        let mut put = |v: u32| types.extend_from_slice(&v.to_le_bytes());
        put(1);
        put((6 << 24) | 2);
        put(4); // enum e, 2 members, size 4
        put(3);
        put(0); // A = 0
        put(5);
        put(1); // B = 1
        put(7);
        put(12 << 24);
        put(0); // func f
        let mut d = vec![0x9f, 0xeb, 1, 0];
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strs.len() as u32,
        ] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(&types);
        d.extend_from_slice(&strs);
        d
    }

    #[test]
    fn finds_enum_members_and_funcs() {
        let b = RawBtf::parse(blob()).unwrap();
        assert_eq!(b.enum_members("e").unwrap(), vec!["A", "B"]);
        assert_eq!(b.func_id("f"), Some(2));
        assert_eq!(b.func_id("g"), None);
        assert_eq!(b.name_of(2), Some("f"));
        assert_eq!(b.name_of(1), Some("e"));
        assert_eq!(b.name_of(9), None);
        assert!(RawBtf::parse(vec![1, 2, 3]).is_err());
        let e = b.describe(1);
        assert_eq!(e["kind"], "enum");
        assert_eq!(e["name"], "e");
        assert_eq!(e["values"][1]["name"], "B");
        assert_eq!(e["values"][1]["value"], "1");
        assert_eq!(b.describe(0)["kind"], "void");
        assert_eq!(b.describe(99)["kind"], "unknown");
    }
}
