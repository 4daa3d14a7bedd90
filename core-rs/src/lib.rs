//! bpfx's core: the kernel work behind the TypeScript API.
//!
//! Layers, each using only those below it: `sys` (raw syscalls), the core
//! modules (one per concept), and `abi` (the `extern "C"` exports).

pub mod abi;
pub mod attach_status;
pub mod btf;
pub mod btf_edit;
pub mod cgroup_links;
pub mod container;
pub mod doctor;
pub mod elf_edit;
pub mod error;
pub mod events;
pub mod expose;
pub mod externs;
pub mod fs;
pub mod handles;
pub mod info;
pub mod link;
pub mod links;
pub mod links_info;
pub mod load;
pub mod manifest;
pub mod maps;
pub mod mirror;
pub mod names;
pub mod object;
pub mod pins;
pub mod sdnotify;
pub mod sections;
pub mod sys;
pub mod syscall;
pub mod views;
pub mod watch;
