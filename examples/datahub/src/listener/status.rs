//! What a listener reports about itself: per partition the committed offset, the log end,
//! the lag, whether and why it is paused, stalled or held back by backpressure; per group the
//! concurrency in force and the most batches seen in flight at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::hot::Quantiles;
use crate::partition::{Group, LogPartition};

/// A partition's live status, updated by its pipeline.
#[derive(Debug)]
pub struct PartitionStatus {
    partition: LogPartition,
    committed: watch::Sender<u64>,
    end: AtomicU64,
    batches: AtomicU64,
    backpressure: AtomicBool,
    backpressure_events: AtomicU64,
    paused: Mutex<Option<String>>,
    stalled: Mutex<Option<String>>,
}

impl PartitionStatus {
    /// A status starting at `committed`.
    pub fn new(partition: LogPartition, committed: u64) -> Self {
        let (tx, _) = watch::channel(committed);
        Self {
            partition,
            committed: tx,
            end: AtomicU64::new(committed),
            batches: AtomicU64::new(0),
            backpressure: AtomicBool::new(false),
            backpressure_events: AtomicU64::new(0),
            paused: Mutex::new(None),
            stalled: Mutex::new(None),
        }
    }

    /// The committed offset (next to read).
    pub fn committed(&self) -> u64 {
        *self.committed.borrow()
    }

    /// A watch of the committed offset.
    pub fn watch_committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    pub(crate) fn set_committed(&self, offset: u64) {
        self.committed.send_if_modified(|c| {
            let changed = *c != offset;
            *c = offset;
            changed
        });
    }

    pub(crate) fn count_batch(&self) {
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_end(&self, end: u64) {
        self.end.store(end, Ordering::Relaxed);
    }

    pub(crate) fn set_backpressure(&self, on: bool) {
        if on && !self.backpressure.swap(true, Ordering::Relaxed) {
            self.backpressure_events.fetch_add(1, Ordering::Relaxed);
        } else if !on {
            self.backpressure.store(false, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_paused(&self, reason: Option<String>) {
        if let Ok(mut p) = self.paused.lock() {
            *p = reason;
        }
    }

    pub(crate) fn set_stalled(&self, reason: Option<String>) {
        if let Ok(mut s) = self.stalled.lock()
            && *s != reason
        {
            *s = reason;
        }
    }

    /// A serializable copy.
    pub fn state(&self) -> PartitionState {
        let committed = self.committed();
        let end = self.end.load(Ordering::Relaxed).max(committed);
        PartitionState {
            group: self.partition.group,
            partition: self.partition.partition,
            committed,
            end,
            lag: end - committed,
            batches: self.batches.load(Ordering::Relaxed),
            paused: self.paused.lock().ok().and_then(|p| p.clone()),
            backpressure: self.backpressure.load(Ordering::Relaxed),
            backpressure_events: self.backpressure_events.load(Ordering::Relaxed),
            stalled: self.stalled.lock().ok().and_then(|s| s.clone()),
        }
    }
}

/// One partition's status, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The group.
    pub group: Group,
    /// The partition.
    pub partition: u32,
    /// The committed offset (the next to process).
    pub committed: u64,
    /// The log's end.
    pub end: u64,
    /// `end - committed`.
    pub lag: u64,
    /// Batches processed.
    pub batches: u64,
    /// Paused through the control API, and why.
    pub paused: Option<String>,
    /// Fetching is held back because the pipeline's channels are full.
    pub backpressure: bool,
    /// How often backpressure engaged.
    pub backpressure_events: u64,
    /// The write or commit stage is retrying, and why (a shard down, say).
    pub stalled: Option<String>,
}

/// A group's concurrency, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// The group.
    pub group: Group,
    /// Batches of the group allowed in the write stage at once.
    pub concurrency: u32,
    /// Batches in the write stage now.
    pub in_flight: u32,
    /// The most in flight at once since the last report.
    pub max_in_flight: u32,
}

/// A listener's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerStatus {
    /// The listener's id.
    pub listener: String,
    /// When (Unix ms).
    pub at_ms: i64,
    /// Its partitions.
    pub partitions: Vec<PartitionState>,
    /// Its groups.
    pub groups: Vec<GroupState>,
    /// Publish → applied latency since the process started.
    pub latency_ms: Quantiles,
    /// Cutover write pauses since the process started.
    pub pause_ms: Quantiles,
}

impl ListenerStatus {
    /// The status of one partition.
    pub fn partition(&self, p: LogPartition) -> Option<&PartitionState> {
        self.partitions
            .iter()
            .find(|s| s.group == p.group && s.partition == p.partition)
    }

    /// The status of one group.
    pub fn group(&self, g: Group) -> Option<&GroupState> {
        self.groups.iter().find(|s| s.group == g)
    }

    /// Total lag.
    pub fn lag(&self) -> u64 {
        self.partitions.iter().map(|p| p.lag).sum()
    }
}
