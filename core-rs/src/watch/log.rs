//! The watcher's log: what it did, as lines (`Action`), kept in its
//! `pending` queue until `Source::next` hands them out.

use super::Watcher;
use crate::error::Error;
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// One thing the watcher did, as a log line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Milliseconds since the epoch.
    pub time: u64,
    /// `started`, `rescan`, `reloaded`, `unexposed`, `re-exposed`,
    /// `left-alone`, `forgotten`, `exposed-into`, `view-made`,
    /// `view-removed`, `link-made`, `link-removed`, `skipped`, `state-gone`,
    /// `rearmed`, `error`.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// A cgroup program's link made or removed: its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_id: Option<u32>,
    pub why: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(super) fn action(action: &'static str, why: impl Into<String>) -> Action {
    Action {
        time: now_ms(),
        action,
        path: None,
        pin: None,
        cgroup: None,
        link_id: None,
        why: why.into(),
    }
}

impl Watcher {
    pub(super) fn log(&mut self, a: Action) {
        let mut line = crate::fs::names::surrogates(serde_json::to_vec(&a).unwrap_or_default());
        line.push(b'\n');
        self.pending.push_back(line);
    }

    pub(super) fn log_error(&mut self, what: &str, e: &Error) {
        let mut a = action("error", format!("{what}: {}", e.message));
        a.path = e.path.clone();
        self.log(a);
    }
}
