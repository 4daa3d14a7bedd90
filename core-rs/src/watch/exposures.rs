//! The exposures' upkeep: one whose pin is gone is removed and forgotten,
//! one whose file or mount is gone is made again, and one inside a
//! container whose process is gone is forgotten.

use super::Watcher;
use super::log::{Action, action};
use crate::error::{Error, Kind};
use crate::expose::exposure::Exposure;
use crate::expose::place::Removal;
use crate::expose::{self, host};

impl Watcher {
    fn forget_exposure(&mut self, x: &Exposure, what: &'static str, why: String) {
        // Dropped from `manifest` at the flush, all at once.
        self.gone.insert(x.clone());
        self.log(Action {
            path: Some(x.path.display().to_string()),
            pin: Some(x.pin.display().to_string()),
            ..action(what, why)
        });
    }

    /// Removes an exposure whose pin is gone; remakes one whose file is gone.
    pub(super) fn check_exposure(&mut self, x: &Exposure) {
        self.check_exposure_with(x, &mut expose::PinCache::default());
    }

    pub(super) fn check_exposure_with(&mut self, x: &Exposure, cache: &mut expose::PinCache) {
        if self.gone.contains(x) {
            return;
        }
        match expose::state_with(x, cache) {
            "ok" => {}
            "ns-gone" => self.forget_exposure(
                x,
                "forgotten",
                "the container's process is gone, and its namespace with it".into(),
            ),
            "pin-gone" => match expose::remove(x) {
                // The manifest is written once per batch of events (flush).
                Ok(Removal::NotOurs(why)) => self.forget_exposure(
                    x,
                    "left-alone",
                    format!("the pin is gone; what is at the path is not bpfx's: {why}"),
                ),
                Ok(Removal::Removed {
                    moved_to: Some(now),
                }) => self.forget_exposure(
                    x,
                    "unexposed",
                    format!(
                        "the pin is gone; its mount had been moved to {}",
                        crate::error::q(&now)
                    ),
                ),
                Ok(_) => self.forget_exposure(x, "unexposed", "the pin is gone".into()),
                Err(e) => self.log_error("cannot remove an exposure", &e),
            },
            // Made through a container's process: not made again.
            _ if x.into.is_some() => {}
            other => {
                let why = format!("the exposure was {other}");
                let remade = expose::remove(x).and_then(|r| match r {
                    Removal::NotOurs(why) => Err(Error::new(
                        Kind::Exists,
                        "expose",
                        format!(
                            "Cannot expose {} again: {why}; left alone",
                            crate::error::q(&x.path)
                        ),
                    )
                    .with_path(&x.path)),
                    _ => host::remake(x),
                });
                match remade {
                    Ok(now) => {
                        if let Some(m) = self.manifest.exposures.iter_mut().find(|e| *e == x) {
                            *m = now.clone();
                        }
                        self.remade.push(now);
                        self.log(Action {
                            path: Some(x.path.display().to_string()),
                            pin: Some(x.pin.display().to_string()),
                            ..action("re-exposed", why)
                        })
                    }
                    Err(e) => self.log_error("cannot re-expose", &e),
                }
            }
        }
    }
}
