//! The section headers of an ELF64 object, read and patched in the
//! object's byte order, and the bytes and names they point to.

pub(super) const SHT_PROGBITS: u32 = 1;
pub(super) const SHF_EXECINSTR: u64 = 0x4;

/// The byte order of the object, for reading and writing its headers.
#[derive(Clone, Copy)]
pub(super) struct Order {
    pub(super) big: bool,
}

impl Order {
    /// `N` bytes at `off`, little-endian first.
    fn get<const N: usize>(self, b: &[u8], off: usize) -> Option<[u8; N]> {
        let mut a: [u8; N] = b.get(off..off.checked_add(N)?)?.try_into().ok()?;
        if self.big {
            a.reverse();
        }
        Some(a)
    }
    fn put<const N: usize>(self, b: &mut [u8], off: usize, mut le: [u8; N]) {
        if self.big {
            le.reverse();
        }
        b[off..off + N].copy_from_slice(&le);
    }
    pub(super) fn u16(self, b: &[u8], off: usize) -> Option<u16> {
        self.get(b, off).map(u16::from_le_bytes)
    }
    pub(super) fn u32(self, b: &[u8], off: usize) -> Option<u32> {
        self.get(b, off).map(u32::from_le_bytes)
    }
    pub(super) fn u64(self, b: &[u8], off: usize) -> Option<u64> {
        self.get(b, off).map(u64::from_le_bytes)
    }
    pub(super) fn put_u32(self, b: &mut [u8], off: usize, v: u32) {
        self.put(b, off, v.to_le_bytes());
    }
    pub(super) fn put_u64(self, b: &mut [u8], off: usize, v: u64) {
        self.put(b, off, v.to_le_bytes());
    }
}

/// One section header of an ELF64 object.
pub(super) struct Shdr {
    /// Where the header is in the file.
    pub(super) at: usize,
    pub(super) name_off: u32,
    pub(super) sh_type: u32,
    pub(super) flags: u64,
    pub(super) offset: usize,
    pub(super) size: usize,
}

pub(super) fn headers(b: &[u8]) -> Result<(Order, Vec<Shdr>, usize), String> {
    if b.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".into());
    }
    if b.get(4) != Some(&2) {
        return Err("not a 64-bit ELF file".into());
    }
    let o = Order {
        big: b.get(5) == Some(&2),
    };
    let bad = || "its section headers are out of bounds".to_string();
    let shoff = o.u64(b, 0x28).ok_or_else(bad)? as usize;
    let shentsize = o.u16(b, 0x3a).ok_or_else(bad)? as usize;
    let shnum = o.u16(b, 0x3c).ok_or_else(bad)? as usize;
    let shstrndx = o.u16(b, 0x3e).ok_or_else(bad)? as usize;
    if shentsize < 64 {
        return Err("its section header size is too small".into());
    }
    let mut out = Vec::with_capacity(shnum);
    for i in 0..shnum {
        let at = shoff
            .checked_add(i.checked_mul(shentsize).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let size = o.u64(b, at + 32).ok_or_else(bad)? as usize;
        out.push(Shdr {
            at,
            name_off: o.u32(b, at).ok_or_else(bad)?,
            sh_type: o.u32(b, at + 4).ok_or_else(bad)?,
            flags: o.u64(b, at + 8).ok_or_else(bad)?,
            offset: o.u64(b, at + 24).ok_or_else(bad)? as usize,
            size,
        });
    }
    Ok((o, out, shstrndx))
}

pub(super) fn cstr_at(b: &[u8], off: usize) -> Option<&str> {
    let rest = b.get(off..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

pub(super) fn section_bytes<'a>(b: &'a [u8], s: &Shdr) -> Option<&'a [u8]> {
    b.get(s.offset..s.offset.checked_add(s.size)?)
}
