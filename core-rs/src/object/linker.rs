//! A static linker for the programs bpfx loads without aya (`syscall`), and
//! the map use of any program.
//!
//! It does what libbpf's `bpf_object__relocate` does for one program: it
//! copies the program's instructions, appends each `.text` (or same-section)
//! function it calls or takes the address of, fixes the call offsets, turns
//! each map reference (`ld_imm64` against a `.maps` symbol or a data
//! section) into a reference to the map by name for the loader to give an
//! fd, and carries the program's func_info and line_info over from
//! `.BTF.ext` at the new instruction offsets. CO-RE relocations and externs
//! are not linked here: a program that has them is refused, naming them.

use object::{Object as _, ObjectSection as _, ObjectSymbol as _, RelocationTarget, SymbolKind};
use std::collections::{BTreeSet, HashMap, VecDeque};

const INSN: usize = 8;
const LD_IMM64: u8 = 0x18;
const CALL: u8 = 0x85;
const PSEUDO_CALL: u8 = 1;
const PSEUDO_MAP_FD: u8 = 1;
const PSEUDO_MAP_VALUE: u8 = 2;
const PSEUDO_FUNC: u8 = 4;

/// A map reference left for the loader: the `ld_imm64` at `insn` gets the
/// fd of the map `name` (a `.maps` or legacy `maps` symbol, or a data
/// section such as `.bss`), pointing at `offset` into its value for data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRef {
    pub insn: usize,
    pub name: String,
    pub value_offset: Option<u32>,
}

/// One program, linked.
#[derive(Debug, Default)]
pub struct Linked {
    /// Raw instructions (little-endian `struct bpf_insn`).
    pub insns: Vec<[u8; INSN]>,
    /// `struct bpf_func_info` records, in instruction order.
    pub func_info: Vec<u8>,
    /// `struct bpf_line_info` records, in instruction order.
    pub line_info: Vec<u8>,
    pub maps: Vec<MapRef>,
    /// Externs the program uses (`__ksym`, `__kconfig`), which this linker
    /// does not resolve.
    pub externs: Vec<String>,
}

impl Linked {
    /// The names of the maps the program uses.
    pub fn map_names(&self) -> BTreeSet<String> {
        self.maps.iter().map(|m| m.name.clone()).collect()
    }

    /// Gives each map reference its fd; `fd_of` answers by map name.
    pub fn resolve_maps(&mut self, fd_of: &dyn Fn(&str) -> Option<i32>) -> Result<(), String> {
        for m in &self.maps {
            let fd = fd_of(&m.name).ok_or_else(|| format!("map \"{}\" was not made", m.name))?;
            let insn = &mut self.insns[m.insn];
            let src = match m.value_offset {
                Some(_) => PSEUDO_MAP_VALUE,
                None => PSEUDO_MAP_FD,
            };
            insn[1] = (insn[1] & 0x0f) | (src << 4);
            insn[4..8].copy_from_slice(&fd.to_le_bytes());
            if let Some(off) = m.value_offset {
                self.insns[m.insn + 1][4..8].copy_from_slice(&off.to_le_bytes());
            }
        }
        Ok(())
    }

    /// The instructions as `u64`s, for `BPF_PROG_LOAD`.
    pub fn words(&self) -> Vec<u64> {
        self.insns.iter().map(|i| u64::from_le_bytes(*i)).collect()
    }
}

/// A function: where its instructions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Func {
    section: usize,
    start: usize,
    size: usize,
}

fn imm(i: &[u8; INSN]) -> i32 {
    i32::from_le_bytes([i[4], i[5], i[6], i[7]])
}

fn set_imm(i: &mut [u8; INSN], v: i32) {
    i[4..8].copy_from_slice(&v.to_le_bytes());
}

/// func_info and line_info records of `.BTF.ext`, by section name, with
/// byte offsets as the file has them.
#[derive(Default)]
struct ExtInfo {
    funcs: HashMap<String, Vec<(u32, u32)>>,
    lines: HashMap<String, Vec<[u32; 4]>>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn ext_info(elf: &object::File<'_>) -> Result<ExtInfo, String> {
    let mut out = ExtInfo::default();
    let (Some(btf), Some(ext)) = (elf.section_by_name(".BTF"), elf.section_by_name(".BTF.ext"))
    else {
        return Ok(out);
    };
    let bad = || "its .BTF.ext is malformed".to_string();
    let btf = btf.data().map_err(|e| e.to_string())?;
    let ext = ext.data().map_err(|e| e.to_string())?;
    let str_start =
        u32_at(btf, 4).ok_or_else(bad)? as usize + u32_at(btf, 16).ok_or_else(bad)? as usize;
    let strings = btf.get(str_start..).ok_or_else(bad)?;
    let name_at = |off: u32| -> String {
        let rest = strings.get(off as usize..).unwrap_or(&[]);
        let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        String::from_utf8_lossy(&rest[..end]).into_owned()
    };
    let hdr_len = u32_at(ext, 4).ok_or_else(bad)? as usize;
    // Walks one subsection: calls `each(section name, record bytes)`.
    let walk = |off_field: usize, each: &mut dyn FnMut(&str, &[u8])| -> Result<(), String> {
        let start = hdr_len + u32_at(ext, off_field).ok_or_else(bad)? as usize;
        let len = u32_at(ext, off_field + 4).ok_or_else(bad)? as usize;
        if len == 0 {
            return Ok(());
        }
        let end = start + len;
        let rec = u32_at(ext, start).ok_or_else(bad)? as usize;
        let mut at = start + 4;
        while at < end {
            let name = name_at(u32_at(ext, at).ok_or_else(bad)?);
            let n = u32_at(ext, at + 4).ok_or_else(bad)? as usize;
            at += 8;
            for _ in 0..n {
                each(&name, ext.get(at..at + rec).ok_or_else(bad)?);
                at += rec;
            }
        }
        Ok(())
    };
    let mut funcs: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
    walk(8, &mut |name, r| {
        if let (Some(off), Some(ty)) = (u32_at(r, 0), u32_at(r, 4)) {
            funcs.entry(name.to_string()).or_default().push((off, ty));
        }
    })?;
    let mut lines: HashMap<String, Vec<[u32; 4]>> = HashMap::new();
    walk(16, &mut |name, r| {
        let f = |i| u32_at(r, i).unwrap_or(0);
        lines
            .entry(name.to_string())
            .or_default()
            .push([f(0), f(4), f(8), f(12)]);
    })?;
    out.funcs = funcs;
    out.lines = lines;
    Ok(out)
}

/// The functions defined in each section: section index to (start, size,
/// name), sorted. Built in one pass over the symbols.
fn functions(elf: &object::File<'_>) -> HashMap<usize, Vec<(usize, usize, String)>> {
    let mut out: HashMap<usize, Vec<(usize, usize, String)>> = HashMap::new();
    for s in elf.symbols() {
        if s.kind() != SymbolKind::Text || !s.is_definition() {
            continue;
        }
        let (Some(section), Ok(name)) = (s.section_index(), s.name()) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        out.entry(section.0).or_default().push((
            s.address() as usize,
            s.size() as usize,
            name.to_string(),
        ));
    }
    for f in out.values_mut() {
        f.sort();
    }
    out
}

/// An object read once for linking any number of its programs: its ELF, its
/// `.BTF.ext` records by section and its functions by section, so that
/// listing or linking every program of an object costs time and memory in
/// proportion to the object (an object of 3,000 programs is read once, not
/// 3,000 times).
pub struct Linker<'a> {
    elf: object::File<'a>,
    ext: ExtInfo,
    functions: HashMap<usize, Vec<(usize, usize, String)>>,
}

impl<'a> Linker<'a> {
    /// Reads `data` for linking.
    pub fn new(data: &'a [u8]) -> Result<Self, String> {
        let elf = object::File::parse(data).map_err(|e| e.to_string())?;
        let ext = ext_info(&elf)?;
        let functions = functions(&elf);
        Ok(Linker {
            elf,
            ext,
            functions,
        })
    }

    /// The programs of one section, as aya lists them: (name, instructions).
    pub fn programs_in(&self, section: usize) -> Vec<(String, usize)> {
        self.functions
            .get(&section)
            .map(|f| {
                f.iter()
                    .map(|(_, size, name)| (name.clone(), size / INSN))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Links program `prog` of section `section`. `ext_name` is the name its
/// section's `.BTF.ext` records go by (`name` of `sections::ProgSection`).
pub fn link(data: &[u8], section: usize, ext_name: &str, prog: &str) -> Result<Linked, String> {
    Linker::new(data)?.link(section, ext_name, prog)
}

impl Linker<'_> {
    /// Links program `prog` of section `section`. `ext_name` is the name its
    /// section's `.BTF.ext` records go by (`name` of `sections::ProgSection`).
    pub fn link(&self, section: usize, ext_name: &str, prog: &str) -> Result<Linked, String> {
        let elf = &self.elf;
        let ext = &self.ext;
        if elf.endianness() != object::Endianness::Little {
            return Err("bpfx links little-endian objects only".into());
        }
        let (start, size, _) = self
            .functions
            .get(&section)
            .and_then(|f| f.iter().find(|(_, _, n)| n == prog).cloned())
            .ok_or_else(|| format!("it has no program \"{prog}\""))?;
        let section_name = |i: usize| -> String {
            if i == section {
                return ext_name.to_string();
            }
            elf.section_by_index(object::SectionIndex(i))
                .ok()
                .and_then(|s| s.name().ok().map(String::from))
                .unwrap_or_default()
        };

        let mut out = Linked::default();
        let mut placed: HashMap<Func, usize> = HashMap::new();
        let mut queue = VecDeque::from([Func {
            section,
            start,
            size,
        }]);
        // (instruction, target section, target byte offset)
        let mut fixups: Vec<(usize, usize, usize)> = Vec::new();
        let mut relocs: HashMap<usize, HashMap<usize, object::SymbolIndex>> = HashMap::new();

        while let Some(f) = queue.pop_front() {
            if placed.contains_key(&f) {
                continue;
            }
            let sec = elf
                .section_by_index(object::SectionIndex(f.section))
                .map_err(|e| e.to_string())?;
            let bytes = sec.data().map_err(|e| e.to_string())?;
            let code = bytes
                .get(f.start..f.start.saturating_add(f.size))
                .filter(|c| c.len().is_multiple_of(INSN))
                .ok_or_else(|| format!("function at {:#x} is out of bounds", f.start))?;
            let rels = relocs.entry(f.section).or_insert_with(|| {
                sec.relocations()
                    .filter_map(|(off, r)| match r.target() {
                        RelocationTarget::Symbol(s) => Some((off as usize, s)),
                        _ => None,
                    })
                    .collect()
            });
            let base = out.insns.len();
            placed.insert(f, base);
            let sname = section_name(f.section);
            if let Some(recs) = ext.funcs.get(&sname) {
                for (off, ty) in recs {
                    if *off as usize == f.start {
                        out.func_info
                            .extend_from_slice(&(base as u32).to_le_bytes());
                        out.func_info.extend_from_slice(&ty.to_le_bytes());
                    }
                }
            }
            if let Some(recs) = ext.lines.get(&sname) {
                for r in recs {
                    let off = r[0] as usize;
                    if (f.start..f.start + f.size).contains(&off) {
                        let idx = (base + (off - f.start) / INSN) as u32;
                        for v in [idx, r[1], r[2], r[3]] {
                            out.line_info.extend_from_slice(&v.to_le_bytes());
                        }
                    }
                }
            }
            for (i, chunk) in code.chunks_exact(INSN).enumerate() {
                let mut insn: [u8; INSN] = chunk.try_into().expect("8 bytes");
                let at = f.start + i * INSN;
                let pos = base + i;
                let src = insn[1] >> 4;
                let rel = rels.get(&at).copied();
                let sym = match rel {
                    Some(s) => Some(elf.symbol_by_index(s).map_err(|e| e.to_string())?),
                    None => None,
                };
                match (insn[0], &sym) {
                    (CALL, _) if src == PSEUDO_CALL => {
                        let (ts, toff) = match &sym {
                            Some(s) => {
                                let ts = s.section_index().map(|i| i.0).ok_or_else(|| {
                                    format!("call at insn {i} targets an undefined symbol")
                                })?;
                                let off =
                                    s.address() as i64 + (imm(&insn) as i64 + 1) * INSN as i64;
                                (ts, off as usize)
                            }
                            None => {
                                let off = at as i64 + (imm(&insn) as i64 + 1) * INSN as i64;
                                (f.section, off as usize)
                            }
                        };
                        fixups.push((pos, ts, toff));
                    }
                    (LD_IMM64, Some(s)) => {
                        let name = s.name().unwrap_or("").to_string();
                        let Some(ts) = s.section_index().map(|i| i.0) else {
                            out.externs.push(name);
                            out.insns.push(insn);
                            continue;
                        };
                        let tsec = elf
                            .section_by_index(object::SectionIndex(ts))
                            .map_err(|e| e.to_string())?;
                        let tname = tsec.name().unwrap_or("").to_string();
                        if src == PSEUDO_FUNC || tsec.kind() == object::SectionKind::Text {
                            let off = s.address() as i64 + imm(&insn) as i64;
                            insn[1] = (insn[1] & 0x0f) | (PSEUDO_FUNC << 4);
                            fixups.push((pos, ts, off as usize));
                        } else if tname == ".maps" || tname.starts_with("maps") {
                            out.maps.push(MapRef {
                                insn: pos,
                                name,
                                value_offset: None,
                            });
                        } else if [".data", ".rodata", ".bss"]
                            .iter()
                            .any(|p| tname.starts_with(p))
                        {
                            let off = s.address() as i64 + imm(&insn) as i64;
                            out.maps.push(MapRef {
                                insn: pos,
                                name: tname,
                                value_offset: Some(off as u32),
                            });
                        } else {
                            return Err(format!(
                                "instruction {i} refers to section \"{tname}\", which holds no map"
                            ));
                        }
                    }
                    (CALL, Some(s)) => out.externs.push(s.name().unwrap_or("").to_string()),
                    _ => {}
                }
                out.insns.push(insn);
            }
            // Queue what this function calls.
            for &(_, ts, toff) in fixups.iter().filter(|(p, ..)| *p >= base) {
                let callee = self
                    .functions
                    .get(&ts)
                    .and_then(|f| f.iter().find(|(s, ..)| *s == toff).cloned())
                    .ok_or_else(|| format!("no function starts at {toff:#x} of section {ts}"))?;
                queue.push_back(Func {
                    section: ts,
                    start: callee.0,
                    size: callee.1,
                });
            }
        }
        for (pos, ts, toff) in fixups {
            let (f, new) = placed
                .iter()
                .find(|(f, _)| f.section == ts && f.start == toff)
                .ok_or_else(|| format!("call target {toff:#x} was not placed"))?;
            let target = *new + (toff - f.start) / INSN;
            set_imm(&mut out.insns[pos], target as i32 - pos as i32 - 1);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imm_round_trips() {
        let mut i = [0u8; INSN];
        set_imm(&mut i, -7);
        assert_eq!(imm(&i), -7);
    }

    #[test]
    fn resolve_maps_sets_the_pseudo_source_and_the_value_offset() {
        let mut l = Linked {
            insns: vec![
                [0x18, 0x01, 0, 0, 0, 0, 0, 0],
                [0; 8],
                [0x18, 0x02, 0, 0, 0, 0, 0, 0],
                [0; 8],
            ],
            maps: vec![
                MapRef {
                    insn: 0,
                    name: "counts".into(),
                    value_offset: None,
                },
                MapRef {
                    insn: 2,
                    name: ".bss".into(),
                    value_offset: Some(12),
                },
            ],
            ..Linked::default()
        };
        assert_eq!(
            l.map_names().into_iter().collect::<Vec<_>>(),
            vec![".bss", "counts"]
        );
        let e = l
            .resolve_maps(&|n| (n == "counts").then_some(7))
            .unwrap_err();
        assert_eq!(e, "map \".bss\" was not made");
        l.resolve_maps(&|n| Some(if n == "counts" { 7 } else { 9 }))
            .unwrap();
        assert_eq!(l.insns[0][1], 0x11, "dst r1, src PSEUDO_MAP_FD");
        assert_eq!(imm(&l.insns[0]), 7);
        assert_eq!(l.insns[2][1], 0x22, "dst r2, src PSEUDO_MAP_VALUE");
        assert_eq!(imm(&l.insns[2]), 9);
        assert_eq!(imm(&l.insns[3]), 12);
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    /// The object `make` builds from tests/bpf/sections.bpf.c.
    fn fixture() -> Vec<u8> {
        std::fs::read(crate::object::spec::tests::fixture("sections.bpf.o")).unwrap()
    }

    #[test]
    fn link_appends_the_called_functions_and_their_func_info() {
        let data = fixture();
        let secs = crate::object::sections::scan(&data).unwrap();
        let sys = secs.iter().find(|s| s.name == "syscall").unwrap();
        let l = link(&data, sys.index, &sys.name, "write_ctx_to_map").unwrap();
        assert_eq!(
            l.map_names().into_iter().collect::<Vec<_>>(),
            vec![".bss", "syscall_out"]
        );
        assert!(l.externs.is_empty());
        // One func_info record per function: the program, combine, twice.
        assert_eq!(l.func_info.len(), 3 * 8, "{:?}", l.func_info);
        assert_eq!(u32_at(&l.func_info, 0), Some(0));
        let own = Linker::new(&data).unwrap().programs_in(sys.index);
        assert_eq!(own, vec![("write_ctx_to_map".to_string(), 26)]);
        assert!(l.insns.len() > 26);
        // Every pseudo call lands on the first instruction of a function
        // that a func_info record names.
        let starts: Vec<u32> = l
            .func_info
            .chunks(8)
            .map(|r| u32_at(r, 0).unwrap())
            .collect();
        for (pos, i) in l.insns.iter().enumerate() {
            if i[0] == CALL && i[1] >> 4 == PSEUDO_CALL {
                let to = (pos as i64 + 1 + imm(i) as i64) as u32;
                assert!(
                    starts.contains(&to),
                    "call at {pos} lands at {to}, not in {starts:?}"
                );
            }
        }
        // Line info is in instruction order and within the program.
        let lines: Vec<u32> = l
            .line_info
            .chunks(16)
            .map(|r| u32_at(r, 0).unwrap())
            .collect();
        assert!(!lines.is_empty());
        assert!(
            lines.windows(2).all(|w| w[0] <= w[1]) || lines.len() == 1,
            "{lines:?}"
        );
        assert!(lines.iter().all(|&i| (i as usize) < l.insns.len()));
    }

    #[test]
    fn map_use_follows_calls_into_text() {
        let data = fixture();
        let secs = crate::object::sections::scan(&data).unwrap();
        let opt = secs.iter().find(|s| s.name == "?iter/task").unwrap();
        let l = link(&data, opt.index, &opt.name, "list_task_comms_optional").unwrap();
        assert_eq!(
            l.map_names().into_iter().collect::<Vec<_>>(),
            vec![".rodata", "optional_seen"]
        );
    }
}
