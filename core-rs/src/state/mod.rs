//! The state part: the manifest, what the user asked for, kept as claims to
//! check against the kernel and the filesystems; and the one lock.

pub mod desired;
pub mod exposures;
pub mod manifest;
pub mod rules;
pub mod status;
