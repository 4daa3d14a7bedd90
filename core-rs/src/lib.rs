//! bpfx's core: the kernel work behind the TypeScript API.
//!
//! Layers, each using only those below it: `sys` (raw syscalls), the core
//! modules (one per concept), and `abi` (the `extern "C"` exports).

pub mod abi;
pub mod attach_status;
pub mod btf_edit;
pub mod cgroup_links;
pub mod container;
pub mod doctor;
pub mod elf_edit;
pub mod error;
pub mod expose;
pub mod externs;
pub mod fs;
pub mod kernel;
pub mod link;
pub mod links;
pub mod load;
pub mod manifest;
pub mod mirror;
pub mod object;
pub mod sdnotify;
pub mod sections;
pub mod sys;
pub mod syscall;
pub mod views;
pub mod watch;
