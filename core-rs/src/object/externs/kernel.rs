//! The kernel as the extern pass reads it: the `Kernel` trait (unit tests
//! give a fake one), the kernel this process runs on, and `Lookup`, which
//! reads kallsyms and the config only when an extern needs them.

use crate::error::{Error, Kind, Result};
use crate::object::btf_edit::Btf;
use std::collections::{HashMap, HashSet};
use std::io::Read as _;

/// The running kernel, as the extern pass reads it.
pub trait Kernel {
    /// `/sys/kernel/btf/vmlinux`, indexed.
    fn vmlinux_btf(&self) -> Result<&Btf<'static>>;
    /// The modules' split BTF (`/sys/kernel/btf/<module>`), by name.
    fn module_btfs(&self) -> Vec<(String, Vec<u8>)>;
    /// `/proc/kallsyms`.
    fn kallsyms(&self) -> Result<String>;
    /// The kernel's build config and where it came from, if readable.
    fn config(&self) -> Option<(String, String)>;
    /// `uname -r`.
    fn release(&self) -> String;
}

/// The kernel this process runs on.
pub struct Running;

impl Kernel for Running {
    /// Read and indexed once per process.
    fn vmlinux_btf(&self) -> Result<&Btf<'static>> {
        static INDEX: std::sync::OnceLock<Btf<'static>> = std::sync::OnceLock::new();
        if let Some(b) = INDEX.get() {
            return Ok(b);
        }
        let b = Btf::parse(crate::kernel::btf::RawBtf::kernel()?.bytes()).map_err(|e| {
            Error::new(
                Kind::Invalid,
                "parse",
                format!("The kernel's BTF is malformed: {e}"),
            )
        })?;
        Ok(INDEX.get_or_init(|| b))
    }

    fn module_btfs(&self) -> Vec<(String, Vec<u8>)> {
        let Ok(dir) = std::fs::read_dir("/sys/kernel/btf") else {
            return Vec::new();
        };
        let mut out: Vec<(String, Vec<u8>)> = dir
            .flatten()
            .filter_map(|d| {
                let name = d.file_name().to_str()?.to_string();
                (name != "vmlinux")
                    .then(|| Some((name, std::fs::read(d.path()).ok()?)))
                    .flatten()
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn kallsyms(&self) -> Result<String> {
        std::fs::read_to_string("/proc/kallsyms")
            .map_err(|e| Error::io("Cannot read \"/proc/kallsyms\"", "open", &e))
    }

    fn config(&self) -> Option<(String, String)> {
        if let Ok(gz) = std::fs::read("/proc/config.gz") {
            let mut text = String::new();
            if flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .is_ok()
            {
                return Some(("/proc/config.gz".into(), text));
            }
        }
        let path = format!("/boot/config-{}", self.release());
        std::fs::read_to_string(&path).ok().map(|t| (path, t))
    }

    fn release(&self) -> String {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }
}

/// Reads the kernel lazily: vmlinux BTF, then modules, kallsyms and the
/// config only if some extern needs them.
pub(super) struct Lookup<'k> {
    pub(super) kernel: &'k dyn Kernel,
    pub(super) kallsyms: Option<HashMap<String, u64>>,
    pub(super) wanted_syms: HashSet<String>,
    pub(super) config: Option<Option<(String, HashMap<String, String>)>>,
    /// The bytes the kconfig externs resolved so far take (bounded by
    /// `kconfig::KCONFIG_MAX`).
    pub(super) kconfig_bytes: usize,
}

impl Lookup<'_> {
    pub(super) fn address(&mut self, name: &str) -> Result<Option<u64>> {
        if self.kallsyms.is_none() {
            let text = self.kernel.kallsyms()?;
            let mut found = HashMap::new();
            for line in text.lines() {
                let mut f = line.split_whitespace();
                let (Some(addr), Some(_), Some(sym)) = (f.next(), f.next(), f.next()) else {
                    continue;
                };
                if self.wanted_syms.contains(sym) && !found.contains_key(sym) {
                    found.insert(sym.to_string(), u64::from_str_radix(addr, 16).unwrap_or(0));
                }
            }
            self.kallsyms = Some(found);
        }
        Ok(self.kallsyms.as_ref().and_then(|m| m.get(name)).copied())
    }

    pub(super) fn config(&mut self) -> Option<&(String, HashMap<String, String>)> {
        if self.config.is_none() {
            self.config = Some(self.kernel.config().map(|(src, text)| {
                let values = text
                    .lines()
                    .filter(|l| l.starts_with("CONFIG_"))
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                    .collect();
                (src, values)
            }));
        }
        self.config.as_ref().and_then(|c| c.as_ref())
    }
}
