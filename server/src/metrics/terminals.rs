//! Terminals seen recently. There is no last-seen column, so the server
//! remembers, in memory, when each terminal last made a verified signed
//! request, and counts those within [`WINDOW`] at scrape time. Only the
//! count is exported; ids never leave this map. Per server instance: two
//! nodes on one database each count the terminals that called them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How recent "seen" is.
pub(crate) const WINDOW: Duration = Duration::from_secs(5 * 60);

/// Entries kept before an insert prunes the expired ones (a bound on
/// memory when nobody scrapes).
const PRUNE_ABOVE: usize = 10_000;

/// Terminal id → when it last called.
#[derive(Default)]
pub(crate) struct SeenWindow {
    last_seen: Mutex<HashMap<String, Instant>>,
}

impl SeenWindow {
    /// Notes a verified request of `terminal_id` now.
    pub(crate) fn seen(&self, terminal_id: &str) {
        let now = Instant::now();
        let mut map = self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= PRUNE_ABOVE {
            map.retain(|_, at| now.duration_since(*at) <= WINDOW);
        }
        match map.get_mut(terminal_id) {
            Some(at) => *at = now,
            None => {
                map.insert(terminal_id.to_string(), now);
            }
        }
    }

    /// Forgets terminals older than the window and counts the rest.
    pub(crate) fn count_recent(&self) -> usize {
        let now = Instant::now();
        let mut map = self
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, at| now.duration_since(*at) <= WINDOW);
        map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_terminals() {
        let window = SeenWindow::default();
        window.seen("t1");
        window.seen("t2");
        window.seen("t1");
        assert_eq!(window.count_recent(), 2);
    }
}
