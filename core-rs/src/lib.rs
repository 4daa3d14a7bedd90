//! bpfx's core: the kernel work behind the TypeScript API.
//!
//! Layers, each using only those below it: `sys` (raw syscalls), the core
//! modules (one per concept), and `abi` (the `extern "C"` exports).

pub mod abi;
pub mod attach;
pub mod container;
pub mod doctor;
pub mod error;
pub mod expose;
pub mod fs;
pub mod kernel;
pub mod manifest;
pub mod object;
pub mod sdnotify;
pub mod sys;
pub mod watch;
