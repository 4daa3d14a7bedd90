//! The expose part: a pin at a path outside bpffs, on the host (`host`) and
//! inside a container's mount namespace (`container`). Both work from a pin
//! resolved once (`pin`) and at a place known by its handle (`place`); what
//! an exposure is, as recorded, is `exposure`. Knows no watcher, and
//! records nothing: the state part does.

pub mod container;
pub mod exposure;
pub mod host;
pub mod pin;
pub mod place;

use crate::error::Result;
use exposure::Exposure;
use place::Removal;
use std::path::PathBuf;

/// Removes the exposure `x`, on the host or inside its container, touching
/// nothing that is not verifiably bpfx's own.
pub fn remove(x: &Exposure) -> Result<Removal> {
    match &x.into {
        Some(ns) => container::remove(x, ns),
        None => host::remove(x),
    }
}

/// Whether each pin holds its object, as found during one pass over many
/// exposures (40,000 symlinks of one pin check it once).
pub type PinCache = std::collections::HashMap<(PathBuf, u32), bool>;

/// The state of one exposure, read from the kernel and the filesystems.
pub fn state_of(x: &Exposure) -> &'static str {
    state_with(x, &mut PinCache::default())
}

/// [`state_of`], with the pins checked once per `cache`: `pin-gone` when
/// the pin was removed or now holds another object, else what is at the
/// exposure's path (on the host, or in its container).
pub fn state_with(x: &Exposure, cache: &mut PinCache) -> &'static str {
    let pin_ok = *cache
        .entry((x.pin.clone(), x.object_id))
        .or_insert_with(|| pin::open_recorded_pin(x).is_some());
    if !pin_ok {
        return "pin-gone";
    }
    match &x.into {
        Some(ns) => container::state_of(x, ns),
        None => host::state_here(x),
    }
}
