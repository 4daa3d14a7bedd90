//! The expose part: a pin at a path outside bpffs, on the host (`host`) and
//! inside a container's mount namespace (`container`). Knows no watcher.

pub mod container;
pub mod exposure;
pub mod host;
