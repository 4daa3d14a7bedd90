//! A by-name map pinned already: a load reuses it only when it is the map
//! the object defines.

use crate::error::{Error, Kind, Result, q};
use crate::kernel::info::ObjKind;
use crate::kernel::pins;
use crate::object::spec::MapSpec;
use std::os::fd::AsFd;
use std::path::Path;

/// Refuses a by-name pin whose map differs from the object's definition.
pub(super) fn check_compatible(spec: &MapSpec, path: &Path) -> Result<()> {
    let (fd, _) = pins::open(path, Some(ObjKind::Map)).map_err(|e| {
        if e.kind == Kind::WrongKind {
            Error::new(
                Kind::Incompatible,
                "BPF_OBJ_GET",
                format!(
                    "Cannot reuse {} for map \"{}\": {}",
                    q(path),
                    spec.name,
                    e.message
                ),
            )
        } else {
            e
        }
    })?;
    let info = crate::kernel::info::info_of_kind(fd.as_fd(), ObjKind::Map)?;
    let crate::kernel::info::Detail::Map(m) = &info.detail else {
        unreachable!("a map has map info")
    };
    let fields: [(&str, u32, u32); 5] = [
        ("type", info.type_num, spec.type_id),
        ("key size", m.key_size, spec.key_size),
        ("value size", m.value_size, spec.value_size),
        ("max entries", m.max_entries, spec.max_entries),
        ("flags", m.flags, spec.flags),
    ];
    for (field, pinned, wanted) in fields {
        // Some maps take max_entries from the kernel (0 in the object).
        if field == "max entries" && wanted == 0 {
            continue;
        }
        if pinned != wanted {
            let show = |v: u32| {
                if field == "type" {
                    crate::kernel::names::map_type(v)
                } else {
                    v.to_string()
                }
            };
            return Err(Error::new(
                Kind::Incompatible,
                "BPF_OBJ_GET",
                format!(
                    "Cannot reuse map \"{}\" pinned at {}: its {field} is {}, the object's is {}",
                    spec.name,
                    q(path),
                    show(pinned),
                    show(wanted)
                ),
            )
            .with_path(path)
            .with_hint("unpin the old map, or pin this object's by-name maps elsewhere with --pin-by-name-root"));
        }
    }
    Ok(())
}
