//! The `.BTF.ext` records of each section, renamed or dropped by section
//! name, and the strings of raw `.BTF` that those names point into.

use super::headers::{Order, cstr_at};

/// What to do with the `.BTF.ext` records of one section.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ExtAction {
    Keep,
    /// The block's section name offset becomes this one.
    Rename(u32),
    /// Drop the block.
    Drop,
}

/// Rewrites the records of one `.BTF.ext` subsection in place: renames or
/// drops blocks by section name, and returns the subsection's new length and
/// the records dropped, by section name.
pub(super) fn rewrite_subsection(
    ext: &mut [u8],
    o: Order,
    start: usize,
    len: usize,
    strings: &[u8],
    action: &dyn Fn(&str, u32) -> ExtAction,
) -> Result<(usize, Vec<(String, usize)>), String> {
    let bad = || "its .BTF.ext records are out of bounds".to_string();
    if len == 0 {
        return Ok((0, Vec::new()));
    }
    let end = start
        .checked_add(len)
        .filter(|&e| e <= ext.len())
        .ok_or_else(bad)?;
    let rec_size = o.u32(ext, start).ok_or_else(bad)? as usize;
    let mut kept: Vec<u8> = ext[start..start + 4].to_vec();
    let mut dropped = Vec::new();
    let mut at = start + 4;
    while at < end {
        let name_off = o.u32(ext, at).ok_or_else(bad)?;
        let n = o.u32(ext, at + 4).ok_or_else(bad)? as usize;
        let block_end = n
            .checked_mul(rec_size)
            .and_then(|r| r.checked_add(at + 8))
            .filter(|&e| e <= end)
            .ok_or_else(bad)?;
        let name = cstr_at(strings, name_off as usize).unwrap_or("");
        match action(name, name_off) {
            ExtAction::Drop => dropped.push((name.to_string(), n)),
            a => {
                let from = kept.len();
                kept.extend_from_slice(&ext[at..block_end]);
                if let ExtAction::Rename(to) = a {
                    o.put_u32(&mut kept, from, to);
                }
            }
        }
        at = block_end;
    }
    ext[start..start + kept.len()].copy_from_slice(&kept);
    ext[start + kept.len()..end].fill(0);
    Ok((kept.len(), dropped))
}

/// The string section of raw `.BTF` data.
pub(super) fn btf_strings(btf: &[u8], o: Order) -> Option<&[u8]> {
    let hdr_len = o.u32(btf, 4)? as usize;
    let str_off = o.u32(btf, 16)? as usize;
    let str_len = o.u32(btf, 20)? as usize;
    let start = hdr_len.checked_add(str_off)?;
    btf.get(start..start.checked_add(str_len)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btf_ext_blocks_are_renamed_past_the_mark_or_dropped() {
        // Strings: "\0?iter/task\0syscall\0"
        let strings = b"\0?iter/task\0syscall\0".to_vec();
        let o = Order { big: false };
        let mut sub = Vec::new();
        sub.extend_from_slice(&16u32.to_le_bytes()); // rec_size
        for (name_off, n) in [(1u32, 1u32), (12, 2)] {
            sub.extend_from_slice(&name_off.to_le_bytes());
            sub.extend_from_slice(&n.to_le_bytes());
            sub.extend_from_slice(&vec![0xaa; 16 * n as usize]);
        }
        let len = sub.len();
        let action = |n: &str, off: u32| match n {
            "?iter/task" => ExtAction::Rename(off + 1),
            "syscall" => ExtAction::Drop,
            _ => ExtAction::Keep,
        };
        let (new_len, dropped) =
            rewrite_subsection(&mut sub, o, 0, len, &strings, &action).unwrap();
        assert_eq!(new_len, 4 + 8 + 16);
        assert_eq!(dropped, vec![("syscall".to_string(), 2)]);
        assert_eq!(o.u32(&sub, 4), Some(2), "past the '?'");
        assert_eq!(cstr_at(&strings, 2), Some("iter/task"));
        assert!(sub[new_len..].iter().all(|&b| b == 0));
    }
}
