//! The filesystem part: directory handles opened with `openat2` (`paths`),
//! mounts known by id and where filesystems are (`mounts`), fanotify
//! (`fanotify`), cgroup2 (`cgroups`), and names as bytes (`names`). Every create, unlink, mount and
//! unmount on a path someone else could change is made relative to a handle
//! from here. Uses only `sys` and `error`.

pub mod cgroups;
pub mod fanotify;
pub mod mounts;
pub mod names;
pub mod paths;
