//! bpfx's core: the kernel work behind the TypeScript API.
//!
//! The parts, from the kernel up; each uses only those above it in this list
//! (`make check` runs `scripts/core_parts_check.ts`, which fails when a file of a
//! lower part names a higher one):
//! - `sys`: every raw syscall, and a fake of itself for unit tests;
//! - `fs`: directory handles, mounts, fanotify, cgroup2;
//! - `kernel`: kernel objects by fd, pins, maps, the handle table;
//! - `object`: the ELF side, from the spec (no privileges) to `load`;
//! - `attach`: views, pinned links, cgroup links, the mirror, the status;
//! - `expose`: exposures on the host and inside containers;
//! - `state`: the manifest and the one lock;
//! - `watch`: the watcher's loop and readiness for systemd;
//! - `doctor`: what this host offers, asked by `abi` only;
//! - `abi`: the `extern "C"` exports.
//!
//! `error` is the one error type, used by every part.

pub mod sys;

pub mod fs;

pub mod kernel;

pub mod object;

pub mod attach;

pub mod expose;

pub mod state;

pub mod watch;

pub mod doctor;

pub mod abi;

pub mod error;
