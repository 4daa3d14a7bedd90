//! The object part: the ELF side. The object spec, read with no privileges
//! (`spec`), its sections (`sections`), BTF and ELF editing (`btf_edit`,
//! `elf_edit`), the static linker (`linker`), externs (ksyms, kconfig:
//! `externs`), `syscall` programs (`syscall`), and `load`, the one step that
//! hands the object to the kernel. Knows no rules, views, exposures or
//! doctor.

pub mod btf_edit;
pub mod elf_edit;
pub mod externs;
pub mod linker;
pub mod load;
pub mod sections;
pub mod spec;
pub mod syscall;
