//! The kernel part: kernel objects by fd. What the kernel says of an object
//! (`info`, `link_info`, moving a link onto another program
//! (`link_update`), with `names` for its enums and `btf` for the raw
//! BTF it hands out), pins in bpffs (`pins`), whether this process may use bpf(2) (`privileged`), maps (`maps`), raw filesystem
//! events as a data source (`events`), every object on the host by id and
//! the run-time statistics (`host`), names of system calls, errno values and
//! kernel addresses (`symbols`), and the table of handles that
//! TypeScript holds ids into (`handles`). Knows no rules, views or
//! exposures.

pub mod btf;
pub mod events;
pub mod handles;
pub mod host;
pub mod info;
pub mod link_info;
pub mod link_update;
pub mod maps;
pub mod names;
pub mod pins;
pub mod privileged;
pub mod symbols;
