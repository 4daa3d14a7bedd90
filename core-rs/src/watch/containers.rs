//! The follow of containers: views exposed inside the containers that come
//! into the cgroups of rules with `into_containers`.

use super::Watcher;
use super::log::{Action, action};
use crate::attach::rule::Rule;
use crate::error::Result;
use crate::expose::exposure::{Exposure, MountRecord};

impl Watcher {
    /// Exposes views inside the containers that came into the cgroups of
    /// rules with `into_containers` (written at the flush).
    pub(super) fn follow_containers(&mut self) {
        let rules: Vec<Rule> = self
            .manifest
            .rules
            .iter()
            .filter(|r| r.into_containers.is_some())
            .cloned()
            .collect();
        if rules.is_empty() {
            return;
        }
        let mut make = |x: &mut Exposure, mk: &dyn Fn(&Exposure) -> Result<MountRecord>| {
            x.mount = Some(mk(x)?);
            Ok(())
        };
        let outcomes = match self.follow.run(&rules, &self.manifest.exposures, &mut make) {
            Ok(o) => o,
            Err(e) => return self.log_error("cannot follow containers", &e),
        };
        for o in outcomes {
            match o {
                crate::expose::container::Outcome::Made(made) => {
                    let (x, placed) = *made;
                    self.manifest.exposures.push(x.clone());
                    self.added.push(x);
                    self.log(Action {
                        path: Some(placed.path),
                        pin: Some(placed.pin),
                        cgroup: Some(placed.cgroup),
                        ..action("exposed-into", format!("container process {}", placed.pid))
                    });
                }
                crate::expose::container::Outcome::Failed(cgroup, e) => {
                    let mut a = action(
                        "error",
                        format!("cannot expose into a container: {}", e.message),
                    );
                    a.cgroup = Some(cgroup);
                    self.log(a);
                }
                _ => {}
            }
        }
    }
}
