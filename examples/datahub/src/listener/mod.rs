//! The listener: one [`pipeline`] per log partition it owns (all of them with the embedded
//! log; those the consumer group assigns it in Kafka mode), each a chain of stages joined by
//! bounded channels.
//!
//! Control comes from the [directory](crate::directory) and is applied by the pipelines at
//! batch boundaries: a pause stops the fetch (and is re-applied whenever a pipeline starts,
//! so it survives restarts and rebalances); a seek drains the pipeline, moves the position
//! and commits it; a replay interleaves batches re-read from the log, filtered by domain and
//! key range, with live ones (re-applying is idempotent: the shards' version guard); the
//! concurrency of a group bounds how many of its batches are in the write stage at once, and
//! changes without a restart.

pub mod applied;
pub mod lineage;
pub mod pipeline;
pub mod source;
pub mod status;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use self::applied::AppliedTracker;
use self::pipeline::{Pipeline, PipelineCtx};
use self::source::{Offsets, Source};
use self::status::{GroupState, ListenerStatus, PartitionStatus};
use crate::clock::now_ms;
use crate::directory::Directory;
use crate::faults::Holds;
use crate::hot::HotStats;
use crate::log::SegmentLog;
use crate::meta::MetaDb;
use crate::partition::{Group, LogPartition};
use crate::query::invalidate::Invalidations;
use crate::store::ShardSet;

/// How a listener runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// This listener's id (in status reports).
    pub id: String,
    /// Records per batch at most. Default 1000 (one transaction per shard per batch: larger
    /// batches amortize commits, smaller ones cut latency).
    pub batch_records: usize,
    /// How long a fetch waits for a fuller batch. Default 5 ms.
    pub linger: Duration,
    /// Batches each channel between stages holds. Default 2: the write stage is the slow
    /// one, so deeper channels only hold more events; it bounds the events in memory per
    /// partition to about 7 × 2 batches in channels plus one in each stage (4 was the
    /// default before: 50 MiB more at 16 partitions in the backpressure test).
    pub channel_batches: usize,
    /// Event ids remembered per partition by the dedupe stage. Default 50,000.
    pub dedupe_window: usize,
    /// How often the status is written for other processes. Default 250 ms.
    pub status_interval: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            id: format!("listener-{}", std::process::id()),
            batch_records: 1000,
            linger: Duration::from_millis(5),
            channel_batches: 2,
            dedupe_window: 50_000,
            status_interval: Duration::from_millis(250),
        }
    }
}

/// Bounds a group's batches in the write stage (its concurrency).
#[derive(Debug)]
pub struct Gate {
    semaphore: Arc<Semaphore>,
    target: AtomicU32,
    in_flight: Arc<AtomicU32>,
    max_in_flight: Arc<AtomicU32>,
}

/// A place in the write stage.
#[derive(Debug)]
pub struct GatePass {
    _permit: OwnedSemaphorePermit,
    in_flight: Arc<AtomicU32>,
}

impl Drop for GatePass {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    fn new(n: u32) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(n as usize)),
            target: AtomicU32::new(n),
            in_flight: Arc::new(AtomicU32::new(0)),
            max_in_flight: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Waits for a place.
    pub async fn enter(&self) -> Option<GatePass> {
        let permit = Arc::clone(&self.semaphore).acquire_owned().await.ok()?;
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.max_in_flight.fetch_max(now, Ordering::AcqRel);
        Some(GatePass {
            _permit: permit,
            in_flight: Arc::clone(&self.in_flight),
        })
    }

    /// Changes the number of places (taking places away waits for them to be free).
    fn set(&self, n: u32) {
        let old = self.target.swap(n, Ordering::AcqRel);
        if n > old {
            self.semaphore.add_permits((n - old) as usize);
        } else if n < old {
            let semaphore = Arc::clone(&self.semaphore);
            tokio::spawn(async move {
                if let Ok(p) = semaphore.acquire_many_owned(old - n).await {
                    p.forget();
                }
            });
        }
    }

    fn state(&self, group: Group) -> GroupState {
        GroupState {
            group,
            concurrency: self.target.load(Ordering::Acquire),
            in_flight: self.in_flight.load(Ordering::Acquire),
            max_in_flight: self
                .max_in_flight
                .swap(self.in_flight.load(Ordering::Acquire), Ordering::AcqRel),
        }
    }
}

/// What a listener is made of.
#[derive(Debug)]
pub struct ListenerParts {
    /// Settings.
    pub config: ListenerConfig,
    /// Partitions per group.
    pub partitions: u32,
    /// The directory.
    pub directory: Directory,
    /// The shards.
    pub shards: ShardSet,
    /// The meta file (dead letters, status; offsets with the embedded log).
    pub meta: MetaDb,
    /// Outcomes for `Ack::Applied`.
    pub applied: Arc<AppliedTracker>,
    /// Rates and histograms.
    pub hot: Arc<HotStats>,
    /// Crash-test hold points.
    pub holds: Holds,
    /// The read path's caches, told of the owners each committed batch changed.
    pub invalidations: Invalidations,
}

/// What the stages of every pipeline share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ListenerConfig,
    pub(crate) partitions: u32,
    pub(crate) directory: Directory,
    pub(crate) shards: ShardSet,
    pub(crate) meta: MetaDb,
    pub(crate) applied: Arc<AppliedTracker>,
    pub(crate) hot: Arc<HotStats>,
    pub(crate) holds: Holds,
    pub(crate) invalidations: Invalidations,
    pub(crate) lineage: lineage::LineageLog,
    gates: Vec<(Group, Arc<Gate>)>,
}

impl Shared {
    pub(crate) fn gate(&self, group: Group) -> Arc<Gate> {
        self.gates
            .iter()
            .find(|(g, _)| *g == group)
            .map(|(_, gate)| Arc::clone(gate))
            .unwrap_or_else(|| Arc::new(Gate::new(1)))
    }
}

/// A running listener.
#[derive(Debug)]
pub struct Listener {
    shared: Arc<Shared>,
    pipelines: Mutex<BTreeMap<LogPartition, (Pipeline, Arc<PartitionStatus>)>>,
    background: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Ok(tasks) = self.background.lock() {
            tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

impl Listener {
    /// A listener with no pipelines yet, and its background tasks (concurrency from the
    /// directory, status reports, rate samples).
    pub fn new(parts: ListenerParts) -> Arc<Self> {
        let gates = Group::ALL
            .iter()
            .map(|g| (*g, Arc::new(Gate::new(parts.partitions))))
            .collect();
        let shared = Arc::new(Shared {
            config: parts.config,
            partitions: parts.partitions,
            directory: parts.directory,
            shards: parts.shards,
            meta: parts.meta,
            applied: parts.applied,
            hot: parts.hot,
            holds: parts.holds,
            invalidations: parts.invalidations,
            lineage: lineage::LineageLog::default(),
            gates,
        });
        let listener = Arc::new(Self {
            shared,
            pipelines: Mutex::new(BTreeMap::new()),
            background: Mutex::new(Vec::new()),
        });
        let tasks = vec![
            tokio::spawn(apply_concurrency(Arc::clone(&listener.shared))),
            tokio::spawn(report(Arc::downgrade(&listener))),
        ];
        if let Ok(mut bg) = listener.background.lock() {
            bg.extend(tasks);
        }
        listener
    }

    /// Starts a pipeline for every partition of the embedded `log`, each from its committed
    /// offset (or the beginning).
    pub async fn start_embedded(self: &Arc<Self>, log: &Arc<SegmentLog>) -> Result<(), String> {
        let offsets = Offsets::Meta(self.shared.meta.clone());
        for p in log.partition_ids().collect::<Vec<_>>() {
            let start = match offsets.load(p).await? {
                Some(o) => o,
                None => log.start_offset(p).map_err(|e| e.to_string())?,
            };
            let source = Source::segment(Arc::clone(log), p, start).map_err(|e| e.to_string())?;
            self.start_partition(p, source, offsets.clone());
        }
        Ok(())
    }

    /// Starts the pipeline of `p` reading `source` (replacing a running one).
    pub fn start_partition(&self, p: LogPartition, source: Source, offsets: Offsets) {
        let start = source.position();
        let status = Arc::new(PartitionStatus::new(p, start));
        status.set_end(source.end());
        self.shared.applied.reset(p, start);
        let ctx = Arc::new(PipelineCtx {
            shared: Arc::clone(&self.shared),
            partition: p,
            status: Arc::clone(&status),
            offsets,
        });
        let pipeline = pipeline::start(ctx, source);
        if let Ok(mut map) = self.pipelines.lock() {
            map.insert(p, (pipeline, status));
        }
    }

    /// Stops the pipeline of `p` at once (what it had not committed is read again by the
    /// partition's next owner).
    pub fn stop_partition(&self, p: LogPartition) {
        if let Ok(mut map) = self.pipelines.lock() {
            map.remove(&p);
        }
    }

    /// The partitions with a running pipeline.
    pub fn partitions(&self) -> Vec<LogPartition> {
        self.pipelines
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Rates and histograms.
    pub fn hot(&self) -> &Arc<HotStats> {
        &self.shared.hot
    }

    /// Outcomes for `Ack::Applied`.
    pub fn applied(&self) -> &Arc<AppliedTracker> {
        &self.shared.applied
    }

    /// The paths of the recent events this listener applied.
    pub fn lineage(&self) -> &lineage::LineageLog {
        &self.shared.lineage
    }

    /// The status now.
    pub fn status(&self) -> ListenerStatus {
        let partitions = self
            .pipelines
            .lock()
            .map(|m| m.values().map(|(_, s)| s.state()).collect())
            .unwrap_or_default();
        ListenerStatus {
            listener: self.shared.config.id.clone(),
            at_ms: now_ms(),
            partitions,
            groups: self
                .shared
                .gates
                .iter()
                .map(|(g, gate)| gate.state(*g))
                .collect(),
            latency_ms: self.shared.hot.latency(),
            pause_ms: self.shared.hot.pauses(),
        }
    }

    /// Waits until every partition has processed its log to the end (lag 0), up to
    /// `timeout`. True when it got there.
    pub async fn caught_up(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status();
            if status.lag() == 0 && status.partitions.iter().all(|p| p.stalled.is_none()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Applies the directory's concurrency settings to the gates as they change.
async fn apply_concurrency(shared: Arc<Shared>) {
    let mut rx = shared.directory.subscribe();
    loop {
        let snapshot = Arc::clone(&rx.borrow_and_update());
        for (group, gate) in &shared.gates {
            let n = snapshot
                .state
                .concurrency
                .get(group)
                .copied()
                .unwrap_or(shared.partitions)
                .clamp(1, shared.partitions);
            if gate.target.load(Ordering::Acquire) != n {
                gate.set(n);
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Writes the status for other processes, and samples rates every second.
async fn report(listener: std::sync::Weak<Listener>) {
    let mut since_sample = Duration::ZERO;
    loop {
        let interval = match listener.upgrade() {
            Some(l) => l.shared.config.status_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(l) = listener.upgrade() else {
            return;
        };
        since_sample += interval;
        if since_sample >= Duration::from_secs(1) {
            since_sample = Duration::ZERO;
            l.shared.hot.sample();
        }
        let status = l.status();
        if let Ok(doc) = serde_json::to_string(&status) {
            // Where processes elsewhere look: the directory's ZooKeeper, when it is there.
            #[cfg(feature = "zookeeper")]
            if let crate::directory::Backend::ZooKeeper(zk) = l.shared.directory.backend() {
                let _ = zk.put_status(&status.listener, doc.as_bytes()).await;
            }
            let _ = l
                .shared
                .meta
                .put_status(status.listener.clone(), doc, status.at_ms)
                .await;
        }
    }
}
