//! Lineage: the path of each recent event through this listener (logged, fetched, written,
//! committed), the shard its row landed on and the version it left, for `Admin.lineage`.
//!
//! Bounded to the byte: a direct-mapped table of [`KEPT`] slots, an event's id hashed to its
//! slot, a newer event overwriting an older one there. Recording costs a hash, a short lock
//! of one of [`STRIPES`] stripes and a write; no allocation beyond the event id, and a
//! fixed footprint (about 14 MiB) whatever the event rate.

use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use crate::partition::LogPartition;

/// Slots (recent events kept, at most).
pub const KEPT: usize = 1 << 16;
/// Lock stripes.
pub const STRIPES: usize = 64;

/// One event's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageEntry {
    /// Where it was logged.
    pub partition: LogPartition,
    /// Its offset.
    pub offset: u64,
    /// Logged (by the publisher), fetched, written to the shards, committed (Unix ms).
    pub stages: [(&'static str, i64); 4],
    /// The shard its row landed on.
    pub shard: u32,
    /// The row's version after it (0: it changed nothing).
    pub version: u64,
    /// `applied`, `unchanged`, `stale`, `duplicate`, `moved`.
    pub outcome: &'static str,
    /// The trace id it was published with.
    pub trace_id: Option<String>,
}

type Slot = Option<(Box<str>, LineageEntry)>;

/// The recent events' paths, by event id.
pub struct LineageLog {
    stripes: Box<[Mutex<Vec<Slot>>]>,
    hasher: foldhash::fast::FixedState,
}

impl std::fmt::Debug for LineageLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineageLog").finish_non_exhaustive()
    }
}

impl Default for LineageLog {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES)
                .map(|_| Mutex::new(vec![None; KEPT / STRIPES]))
                .collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x11ea9e),
        }
    }
}

impl LineageLog {
    fn slot(&self, event_id: &str) -> (usize, usize) {
        #[allow(clippy::cast_possible_truncation)]
        let h = self.hasher.hash_one(event_id) as usize;
        (h % STRIPES, (h / STRIPES) % (KEPT / STRIPES))
    }

    /// Records `event_id`'s path (a later record of the same id, a replay say, replaces it).
    pub fn record(&self, event_id: &str, entry: LineageEntry) {
        let (stripe, slot) = self.slot(event_id);
        let mut slots = self.stripes[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        slots[slot] = Some((event_id.into(), entry));
    }

    /// The path of `event_id`, if it is among the recent ones.
    pub fn get(&self, event_id: &str) -> Option<LineageEntry> {
        let (stripe, slot) = self.slot(event_id);
        let slots = self.stripes[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &slots[slot] {
            Some((id, entry)) if &**id == event_id => Some(entry.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::Group;

    fn entry(offset: u64) -> LineageEntry {
        LineageEntry {
            partition: LogPartition {
                group: Group::Member,
                partition: 0,
            },
            offset,
            stages: [
                ("logged", 1),
                ("fetched", 2),
                ("written", 3),
                ("committed", 4),
            ],
            shard: 1,
            version: offset,
            outcome: "applied",
            trace_id: None,
        }
    }

    #[test]
    fn recent_events_are_found_and_others_are_not() {
        let log = LineageLog::default();
        for i in 0..1000u64 {
            log.record(&format!("e-{i}"), entry(i));
        }
        // Nearly all of the last 1,000 are kept (a slot collision drops the older one).
        let kept = (0..1000u64)
            .filter(|i| log.get(&format!("e-{i}")) == Some(entry(*i)))
            .count();
        assert!(kept > 980, "{kept} of 1000 kept");
        assert_eq!(log.get("never"), None);
    }
}
