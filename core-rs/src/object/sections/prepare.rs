//! The bytes aya is shown: the program sections it cannot read, or that
//! this load does not want, hidden, and `?` names made readable (see the
//! module docs); and, for reading the spec, the object without `.BTF.ext`.

use super::btf_ext::{ExtAction, btf_strings, rewrite_subsection};
use super::headers::{Order, SHF_EXECINSTR, Shdr, cstr_at, headers, section_bytes};
use super::{Handling, ProgSection, scan};
use aya_obj::ProgramSection;
use std::str::FromStr as _;

/// The bytes for aya, and what was changed for it.
#[derive(Debug)]
pub struct Prepared {
    pub data: Vec<u8>,
    pub sections: Vec<ProgSection>,
}

impl Prepared {
    pub fn section(&self, index: usize) -> Option<&ProgSection> {
        self.sections.iter().find(|s| s.index == index)
    }
}

/// The name aya sees for each shown `?` section: the name without the
/// `?`, or, where that is another shown section's name (aya keys sections
/// by name), that name with `/` appended until it is unique and still
/// parses to the same section kind. `None` for a name that needs new bytes.
fn aya_names(
    shown: &[&ProgSection],
) -> Result<std::collections::HashMap<usize, (String, bool)>, String> {
    let mut taken: std::collections::HashSet<String> = shown
        .iter()
        .filter(|p| !p.optional)
        .map(|p| p.kind_name.clone())
        .collect();
    let mut out = std::collections::HashMap::new();
    for p in shown.iter().filter(|p| p.optional) {
        if taken.insert(p.kind_name.clone()) {
            out.insert(p.index, (p.kind_name.clone(), false));
            continue;
        }
        let kind = format!("{:?}", ProgramSection::from_str(&p.kind_name).ok());
        let unique = (1..=8)
            .map(|n| format!("{}{}", p.kind_name, "/".repeat(n)))
            .find(|c| {
                !taken.contains(c) && format!("{:?}", ProgramSection::from_str(c).ok()) == kind
            })
            .ok_or_else(|| {
                format!(
                    "its section \"{}\" cannot be loaded beside \"{}\": aya 0.14 keys sections by name, and both are \"{}\" without the '?'",
                    p.name, p.kind_name, p.kind_name
                )
            })?;
        taken.insert(unique.clone());
        out.insert(p.index, (unique, true));
    }
    Ok(out)
}

/// Moves the bytes of section `s` (`table`) to the end of the file with
/// `names` appended, each NUL-terminated; returns where the section now
/// starts and each name's offset in it.
fn append_strings(
    data: &mut Vec<u8>,
    o: Order,
    s: &Shdr,
    table: &[u8],
    names: &[&str],
) -> (usize, Vec<u32>) {
    while !data.len().is_multiple_of(8) {
        data.push(0);
    }
    let start = data.len();
    data.extend_from_slice(table);
    let mut offs = Vec::new();
    for n in names {
        offs.push((data.len() - start) as u32);
        data.extend_from_slice(n.as_bytes());
        data.push(0);
    }
    let size = (data.len() - start) as u64;
    o.put_u64(data, s.at + 24, start as u64);
    o.put_u64(data, s.at + 32, size);
    (start, offs)
}

/// `data` with its `.BTF.ext` section hidden from aya (its `sh_name` 0),
/// for reading the spec only: aya-obj 0.3 copies a section's func_info and
/// line_info once per program section it parses, which makes an object of
/// thousands of programs cost memory in the square of their number, and the
/// spec needs none of it (bpfx reads `.BTF.ext` itself where it does).
pub fn without_btf_ext(mut data: Vec<u8>) -> Result<Vec<u8>, String> {
    let (o, shdrs, shstrndx) = headers(&data)?;
    let shstr = shdrs
        .get(shstrndx)
        .and_then(|s| section_bytes(&data, s))
        .ok_or("its section name table is out of bounds")?
        .to_vec();
    for s in &shdrs {
        if cstr_at(&shstr, s.name_off as usize) == Some(".BTF.ext") {
            o.put_u32(&mut data, s.at, 0);
        }
    }
    Ok(data)
}

/// Rewrites `data` so that aya 0.14 can read it (see the module docs),
/// showing aya only the program sections that `keep` takes and aya can
/// load. A hidden section loses its name (`sh_name` 0) and its CO-RE
/// records, so that nothing of aya's, which keys sections by name, can
/// mistake it for one it reads; its func_info and line_info stay, under
/// its own name, for `linker.rs`. A shown `?X` beside a shown `X` is named
/// `X/` for aya (new bytes in the section name table and in the `.BTF`
/// strings, both moved to the end of the file).
pub fn prepare(mut data: Vec<u8>, keep: &dyn Fn(&ProgSection) -> bool) -> Result<Prepared, String> {
    let mut sections = scan(&data)?;
    let (o, shdrs, shstrndx) = headers(&data)?;
    let shstr = shdrs
        .get(shstrndx)
        .and_then(|s| section_bytes(&data, s))
        .ok_or("its section name table is out of bounds")?
        .to_vec();
    let name_of = |s: &Shdr| {
        cstr_at(&shstr, s.name_off as usize)
            .unwrap_or("")
            .to_string()
    };
    let shown = |p: &ProgSection| p.handling == Handling::Aya && keep(p);
    let shown_list: Vec<&ProgSection> = sections.iter().filter(|p| shown(p)).collect();
    let renames = aya_names(&shown_list)?;
    // The sections that need new name bytes, in section order.
    let mut fresh: Vec<(usize, String)> = renames
        .iter()
        .filter(|(_, (_, new))| *new)
        .map(|(i, (n, _))| (*i, n.clone()))
        .collect();
    fresh.sort();

    for p in &sections {
        let s = &shdrs[p.index];
        if !shown(p) {
            o.put_u32(&mut data, s.at, 0);
            o.put_u64(&mut data, s.at + 8, s.flags & !SHF_EXECINSTR);
        } else if p.optional && !fresh.iter().any(|(i, _)| *i == p.index) {
            o.put_u32(&mut data, s.at, s.name_off + 1);
        }
    }

    let find = |want: &str| shdrs.iter().find(|s| name_of(s) == want);
    // Where each fresh name will be in the .BTF strings.
    let mut btf_fresh: Vec<u32> = Vec::new();
    let btf = find(".BTF");
    if let (Some(btf), Some(ext)) = (btf, find(".BTF.ext")) {
        let raw = section_bytes(&data, btf).ok_or("its .BTF section is out of bounds")?;
        let strings = btf_strings(raw, o)
            .ok_or("its .BTF section is out of bounds")?
            .to_vec();
        let mut next = strings.len() as u32;
        for (_, n) in &fresh {
            btf_fresh.push(next);
            next += n.len() as u32 + 1;
        }
        let ext_range = ext.offset..ext.offset + ext.size;
        let bytes = data
            .get_mut(ext_range)
            .ok_or("its .BTF.ext section is out of bounds")?;
        let hdr_len = o.u32(bytes, 4).ok_or("its .BTF.ext header is short")? as usize;
        let by_name = |name: &str| sections.iter().find(|p| p.name == name);
        // (offset field, length field) of func_info, line_info, core_relo.
        let mut subs = vec![(8usize, 12usize, false), (16, 20, false)];
        if hdr_len >= 32 {
            subs.push((24, 28, true));
        }
        let mut dropped_core = Vec::new();
        for (off_field, len_field, is_core) in subs {
            let off = o.u32(bytes, off_field).ok_or("short .BTF.ext header")? as usize;
            let len = o.u32(bytes, len_field).ok_or("short .BTF.ext header")? as usize;
            let action = |name: &str, name_off: u32| match by_name(name) {
                Some(p) if !shown(p) && is_core => ExtAction::Drop,
                Some(p) if shown(p) && p.optional => {
                    match fresh.iter().position(|(i, _)| *i == p.index) {
                        Some(k) => ExtAction::Rename(btf_fresh[k]),
                        None => ExtAction::Rename(name_off + 1),
                    }
                }
                _ => ExtAction::Keep,
            };
            let (new_len, dropped) =
                rewrite_subsection(bytes, o, hdr_len + off, len, &strings, &action)?;
            o.put_u32(bytes, len_field, new_len as u32);
            dropped_core.extend(dropped);
        }
        for (name, n) in dropped_core {
            if let Some(p) = sections.iter_mut().find(|p| p.name == name) {
                p.core_relos += n;
            }
        }
    }

    if !fresh.is_empty() {
        let names: Vec<&str> = fresh.iter().map(|(_, n)| n.as_str()).collect();
        if let Some(btf) = btf.filter(|_| !btf_fresh.is_empty()) {
            let raw = section_bytes(&data, btf)
                .ok_or("its .BTF section is out of bounds")?
                .to_vec();
            let end = [4usize, 16, 20]
                .iter()
                .map(|&f| o.u32(&raw, f).unwrap_or(0) as usize)
                .sum::<usize>();
            if end != raw.len() {
                return Err("its .BTF strings are not at the end of .BTF".into());
            }
            let (start, _) = append_strings(&mut data, o, btf, &raw, &names);
            let added = (data.len() - start - raw.len()) as u32;
            let str_len = o.u32(&raw, 20).unwrap_or(0) + added;
            o.put_u32(&mut data, start + 20, str_len);
        }
        let (_, offs) = append_strings(&mut data, o, &shdrs[shstrndx], &shstr, &names);
        for ((i, _), off) in fresh.iter().zip(offs) {
            o.put_u32(&mut data, shdrs[*i].at, off);
        }
    }
    Ok(Prepared { data, sections })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::sections::tests::elf;

    const EXEC: u64 = 0x6; // SHF_ALLOC | SHF_EXECINSTR
    fn exit() -> Vec<u8> {
        // r0 = 0; exit
        vec![0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]
    }

    fn name_of(data: &[u8], index: usize) -> String {
        let (_, shdrs, shstrndx) = headers(data).unwrap();
        let shstr = section_bytes(data, &shdrs[shstrndx]).unwrap();
        cstr_at(shstr, shdrs[index].name_off as usize)
            .unwrap()
            .to_string()
    }

    fn flags_of(data: &[u8], index: usize) -> u64 {
        headers(data).unwrap().1[index].flags
    }

    #[test]
    fn prepare_strips_the_mark_and_hides_what_aya_cannot_read() {
        let data = elf(&[
            (".text", 1, EXEC, exit()),
            ("?iter/task", 1, EXEC, exit()),
            ("syscall", 1, EXEC, exit()),
            ("usdt/x:p:n", 1, EXEC, exit()),
            ("kprobe/x", 1, EXEC, exit()),
            ("license", 1, 0x2, b"GPL\0".to_vec()),
        ]);
        let p = prepare(data.clone(), &|s| s.name != "kprobe/x").unwrap();
        let got: Vec<(usize, &str, bool, bool)> = p
            .sections
            .iter()
            .map(|s| {
                (
                    s.index,
                    s.name.as_str(),
                    s.optional,
                    s.handling == Handling::Aya,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "?iter/task", true, true),
                (3, "syscall", false, false),
                (4, "usdt/x:p:n", false, false),
                (5, "kprobe/x", false, true),
            ]
        );
        assert_eq!(name_of(&p.data, 2), "iter/task");
        assert_eq!(flags_of(&p.data, 2), EXEC);
        for hidden in [3, 4, 5] {
            assert_eq!(name_of(&p.data, hidden), "", "section {hidden} is nameless");
            assert_eq!(
                flags_of(&p.data, hidden),
                0x2,
                "section {hidden} is data to aya"
            );
        }
        assert_eq!(name_of(&p.data, 1), ".text");
        // Only those header fields changed: one name, three names and flags.
        let diff: Vec<usize> = (0..data.len()).filter(|&i| data[i] != p.data[i]).collect();
        assert!(diff.len() <= 7, "{diff:?}");
        assert_eq!(
            scan(&p.data).unwrap().len(),
            1,
            "aya sees one program section"
        );
    }

    #[test]
    fn prepare_refuses_headers_out_of_bounds() {
        let mut data = elf(&[(".text", 1, EXEC, exit())]);
        let n = data.len();
        data[0x28..0x30].copy_from_slice(&(n as u64).to_le_bytes());
        assert_eq!(
            prepare(data, &|_| true).unwrap_err(),
            "its section headers are out of bounds"
        );
        assert_eq!(
            prepare(b"\x7fELF\x01".to_vec(), &|_| true).unwrap_err(),
            "not a 64-bit ELF file"
        );
    }

    #[test]
    fn a_shown_optional_section_beside_its_twin_gets_a_name_of_its_own() {
        let data = elf(&[
            ("?iter/task", 1, EXEC, exit()),
            ("iter/task", 1, EXEC, exit()),
            ("?xdp", 1, EXEC, exit()),
            ("xdp", 1, EXEC, exit()),
        ]);
        let p = prepare(data.clone(), &|s| s.kind_name != "xdp").unwrap();
        assert_eq!(name_of(&p.data, 1), "iter/task/");
        assert_eq!(name_of(&p.data, 2), "iter/task");
        assert_eq!(scan(&p.data).unwrap().len(), 2, "both shown");
        // Alone, either keeps its plain name; the other is hidden, nameless.
        let p = prepare(data.clone(), &|s| s.name == "?iter/task").unwrap();
        assert_eq!(
            (name_of(&p.data, 1), name_of(&p.data, 2)),
            ("iter/task".into(), "".into())
        );
        // "xdp/" is not an xdp section to aya: refused, saying why.
        let e = prepare(data, &|s| s.kind_name == "xdp").unwrap_err();
        assert!(
            e.contains("\"?xdp\" cannot be loaded beside \"xdp\""),
            "{e}"
        );
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    #[test]
    fn aya_finds_the_func_and_line_info_of_a_shown_optional_section() {
        let data = std::fs::read(crate::object::spec::tests::fixture("sections.bpf.o")).unwrap();
        let secs = scan(&data).unwrap();
        let opt = secs.iter().find(|s| s.optional).unwrap().index;
        let p = prepare(data, &|s| s.index == opt).unwrap();
        let obj = aya_obj::Object::parse(&p.data).unwrap();
        let names: Vec<&String> = obj.programs.keys().collect();
        assert_eq!(names, ["list_task_comms_optional"], "only it is shown");
        let prog = &obj.programs["list_task_comms_optional"];
        assert!(matches!(prog.section, ProgramSection::Iter { .. }));
        let f = &obj.functions[&prog.function_key()];
        assert_eq!(f.func_info.func_info.len(), 1, "its FUNC record");
        assert!(!f.line_info.line_info.is_empty(), "its line info");
        // Both iterators at once: the `?` one is "iter/task/" to aya, with
        // its own records under that name in the grown .BTF strings.
        let data = std::fs::read(crate::object::spec::tests::fixture("sections.bpf.o")).unwrap();
        let both = prepare(data, &|s| s.kind_name == "iter/task").unwrap();
        let obj = aya_obj::Object::parse(&both.data).unwrap();
        let mut names: Vec<&String> = obj.programs.keys().collect();
        names.sort();
        assert_eq!(
            names,
            ["list_task_comms_optional", "list_task_tgids_in_full"]
        );
        for (name, prog) in &obj.programs {
            let f = &obj.functions[&prog.function_key()];
            assert_eq!(f.func_info.func_info.len(), 1, "{name}");
            assert!(!f.line_info.line_info.is_empty(), "{name}");
        }
        let strings = btf_strings(
            obj.btf.as_ref().map(|b| b.to_bytes()).unwrap().as_slice(),
            Order { big: false },
        )
        .unwrap()
        .to_vec();
        assert!(
            strings.windows(11).any(|w| w == b"iter/task/\0"),
            "the new name is in the .BTF strings"
        );
        // The hidden sections lost their CO-RE records for aya: the syscall
        // program has none, the other iterator's field reads are CO-RE.
        let view = p.sections.iter().find(|s| s.name == "iter/task").unwrap();
        assert!(view.core_relos > 0, "{view:?}");
    }
}
