//! Exposures inside another mount namespace: a container's. The pin is
//! taken on the host as a detached, read-only mount (`open_tree` with
//! `OPEN_TREE_CLONE`, then `mount_setattr`), and a thread of its own enters
//! the container's mount namespace and moves the mount into place there.
//!
//! Why a thread and not a helper process: `setns(CLONE_NEWNS)` is refused
//! (EINVAL) to a thread that shares its root and working directory with
//! another, which every thread of a multi-threaded process does. A thread
//! that first gives itself its own (`unshare(CLONE_FS)`) may enter; the
//! namespace is then its own (each thread has its own namespaces), the
//! process's other threads stay on the host, and the thread ends when its
//! work is done, so nothing else ever runs in the container. No second
//! binary to build, install and find, no fork of a large process, and the
//! same handles ([`crate::fs::paths`]) and errors as the rest of the core.
//!
//! The target is held by a pidfd, so a recycled PID cannot be taken for
//! it, and recorded by its namespace's identity (nsfs device and inode)
//! with the process's start time. Inside, the path is resolved from the
//! container's root with `RESOLVE_IN_ROOT` and no symlink; the mount is
//! never wider than the pin (the rule of [`crate::expose::pin::check_no_widening`]),
//! and it is read-only, so the container cannot change the pin's mode or
//! owner through it.
//!
//! The files: `process` (the process held by a pidfd, its namespace's
//! identity, entering it on a thread, and the probe), `make` (an exposure
//! checked, taken as a detached mount and placed inside), `remove` (its
//! removal and its state inside), `check` (a rule's check of one cgroup:
//! the container it holds, and the view exposed in it), `follow` (the
//! watcher's eye on rule cgroups, with its retries) and `exits` (the
//! watcher's pidfds on the containers' processes).

mod check;
mod exits;
mod follow;
mod make;
mod process;
mod remove;

pub use check::{Maker, Outcome, check_one};
pub use exits::Exits;
pub use follow::Follow;
pub use make::{Into, IntoPrepared, in_container, prepare_into};
pub use process::{Process, probe};
pub use remove::{remove, state_of};
