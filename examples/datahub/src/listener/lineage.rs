//! Lineage: the path of each recent event through this listener (logged, fetched, written,
//! committed), the shard its row landed on and the version it left, for `Admin.lineage`.
//! Bounded: the last [`KEPT`] events, in a moka cache (older ones are evicted).

use std::sync::Arc;

use crate::partition::LogPartition;

/// Events kept.
pub const KEPT: u64 = 100_000;

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

/// The recent events' paths, by event id.
#[derive(Clone)]
pub struct LineageLog {
    entries: moka::sync::Cache<String, Arc<LineageEntry>, foldhash::fast::RandomState>,
}

impl std::fmt::Debug for LineageLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineageLog").finish_non_exhaustive()
    }
}

impl Default for LineageLog {
    fn default() -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(KEPT)
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }
}

impl LineageLog {
    /// Records `event_id`'s path (a later record of the same id, a replay say, replaces it).
    pub fn record(&self, event_id: &str, entry: LineageEntry) {
        self.entries.insert(event_id.to_owned(), Arc::new(entry));
    }

    /// The path of `event_id`, if it is among the recent ones.
    pub fn get(&self, event_id: &str) -> Option<Arc<LineageEntry>> {
        self.entries.get(event_id)
    }
}
