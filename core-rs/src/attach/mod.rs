//! The attach part: views (iterator links as files, `views`), any program as
//! a pinned link (`links`), cgroup programs' links (`cgroup_links`), the
//! mirror of the cgroup tree that an attach rule keeps (`mirror`), and what
//! each rule's cgroups are (`status`). Knows no watcher.

pub mod cgroup_links;
pub mod links;
pub mod mirror;
pub mod rule;
pub mod status;
pub mod views;
