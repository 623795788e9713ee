//! A listener process as a member of the Kafka consumer group.
//!
//! One `StreamConsumer` per process. Every partition this process takes gets its **own
//! queue** in librdkafka (`split_partition_queue`), read directly by that partition's
//! pipeline as its [`Source`]; the consumer's main queue carries only events. Backpressure is
//! librdkafka's own: it stops fetching a partition whose queue holds
//! [`PREFETCH_KIB`] (or [`PREFETCH_RECORDS`]), so a pipeline that is behind, or paused,
//! holds up its own partition only, and memory stays bounded per partition.
//!
//! A partition is taken in this order: its committed offset is read from the group, its
//! queue is split off, and it is added to the assignment (`incremental_assign`) **at that
//! offset**, which is also where its pipeline starts; so the pipeline and librdkafka agree on
//! the first record, and partitions already held are never touched. (An earlier design
//! routed every record through one dispatcher into per-partition channels and paused a
//! partition in librdkafka when its channel was full; librdkafka resumed such a partition
//! past records it had dropped at the pause, and a few acknowledged events were never
//! applied after a failover.)
//!
//! Who takes which partition: see [`Assignment`]. A partition given up stops its pipeline
//! at once and is marked as no longer owned, so nothing more is committed for it (a broker
//! that does not fence commits by generation would otherwise accept them). Offsets are
//! committed to the group after the shards commit; the next owner starts from there and
//! re-applies anything after it, which the version guard makes harmless.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::{CommitMode, Consumer, DefaultConsumerContext, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::watch;

use super::KafkaConfig;
use crate::directory::{SeekTo, Snapshot};
use crate::listener::Listener;
use crate::listener::source::{Offsets, Source};
use crate::log::{LogError, LogRecord};
use crate::partition::{Group, LogPartition};

/// Prefetched bytes librdkafka keeps per partition before it stops fetching it.
pub const PREFETCH_KIB: u32 = 4096;
/// Prefetched records librdkafka tries to keep per partition.
pub const PREFETCH_RECORDS: u32 = 4096;

type HubConsumer = StreamConsumer;
type Owned = Arc<Mutex<HashSet<LogPartition>>>;
type Ends = Arc<Mutex<HashMap<LogPartition, Arc<AtomicU64>>>>;

fn partition_index(p: LogPartition) -> i32 {
    i32::try_from(p.partition).unwrap_or(0)
}

/// How partitions are shared among the listener processes.
#[derive(Debug, Clone)]
pub enum Assignment {
    /// This process takes every partition (offsets still committed to the group): the
    /// embedded directory means one listener process.
    All,
    /// The listeners register in ZooKeeper (the registry's Curator layout, service
    /// `datahub.listener`) and each takes its share of the sorted partitions by the sorted
    /// member list; the broker keeps the log and the group's committed offsets only. Used with
    /// the ZooKeeper directory: tansu 0.6's group coordinator never hands a SIGKILLed member's
    /// partitions to the others (measured: none in 90 s), and the hub already coordinates
    /// through ZooKeeper. A member that dies loses its partitions when its session expires.
    ZooKeeper(arpc::registry::ZooKeeper),
}

/// The partitions member `me` takes when `members` (any order) share `all`.
pub fn share(all: &[LogPartition], members: &[String], me: &str) -> Vec<LogPartition> {
    let mut members = members.to_vec();
    members.sort();
    members.dedup();
    let Some(index) = members.iter().position(|m| m == me) else {
        return Vec::new();
    };
    let mut all = all.to_vec();
    all.sort();
    all.into_iter()
        .enumerate()
        .filter(|(i, _)| i % members.len() == index)
        .map(|(_, p)| p)
        .collect()
}

/// This process's membership in the consumer group.
pub struct Member {
    consumer: Arc<HubConsumer>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _registration: Option<arpc::registry::Registration>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").finish_non_exhaustive()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // Stop fetching at once (the ZooKeeper registration, dropped with this, hands the
        // partitions to the others).
        let _ = self.consumer.unassign();
    }
}

fn tpl_of(p: LogPartition, offset: Option<Offset>) -> KafkaResult<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    match offset {
        Some(o) => {
            tpl.add_partition_offset(&p.group.topic(), partition_index(p), o)?;
        }
        None => {
            tpl.add_partition(&p.group.topic(), partition_index(p));
        }
    }
    Ok(tpl)
}

fn consumer_config(config: &KafkaConfig, group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set(
            "session.timeout.ms",
            config.session_timeout.as_millis().to_string(),
        )
        .set(
            "fetch.wait.max.ms",
            config.fetch_wait.as_millis().to_string(),
        )
        // With split partition queues these bound each partition's prefetch.
        .set("queued.max.messages.kbytes", PREFETCH_KIB.to_string())
        .set("queued.min.messages", PREFETCH_RECORDS.to_string())
        .set("socket.nagle.disable", "true");
    c
}

fn to_record(p: LogPartition, m: &BorrowedMessage<'_>) -> LogRecord {
    LogRecord {
        partition: p,
        offset: u64::try_from(m.offset()).unwrap_or(0),
        timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
        key: m.key().map(Bytes::copy_from_slice).unwrap_or_default(),
        value: m.payload().map(Bytes::copy_from_slice).unwrap_or_default(),
    }
}

/// What taking and giving up partitions needs.
struct Membership {
    consumer: Arc<HubConsumer>,
    listener: Arc<Listener>,
    owned: Owned,
    ends: Ends,
    config: KafkaConfig,
}

impl Membership {
    /// Takes `p`: reads its committed offset, splits its queue off, adds it to the
    /// assignment at that offset and starts its pipeline there.
    async fn take(&self, p: LogPartition) -> Result<(), LogError> {
        let broker = |e: rdkafka::error::KafkaError| LogError::Broker(e.to_string());
        let offsets = GroupOffsets {
            consumer: Arc::clone(&self.consumer),
            owned: Arc::clone(&self.owned),
        };
        let mut committed = offsets.load(p).await;
        for _ in 0..3 {
            if committed.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            committed = offsets.load(p).await;
        }
        let committed = committed.map_err(LogError::Broker)?;
        let (start, offset) = match committed {
            Some(o) => (o, Offset::Offset(i64::try_from(o).unwrap_or(i64::MAX))),
            None => (0, Offset::Beginning),
        };
        let queue = self
            .consumer
            .split_partition_queue(&p.group.topic(), partition_index(p))
            .ok_or_else(|| LogError::Config(format!("no queue for {p:?}")))?;
        self.consumer
            .incremental_assign(&tpl_of(p, Some(offset)).map_err(broker)?)
            .map_err(broker)?;
        if let Ok(mut owned) = self.owned.lock() {
            owned.insert(p);
        }
        let end = Arc::new(AtomicU64::new(start));
        if let Ok(mut ends) = self.ends.lock() {
            ends.insert(p, Arc::clone(&end));
        }
        let source = PartitionSource::Member {
            partition: p,
            queue,
            consumer: Arc::clone(&self.consumer),
            next: start,
            end,
            config: self.config.clone(),
        };
        self.listener
            .start_partition(p, Source::Kafka(source), Offsets::Kafka(offsets));
        Ok(())
    }

    /// Gives `p` up: no more commits for it, its pipeline stops, it leaves the assignment.
    fn give_up(&self, p: LogPartition) {
        if let Ok(mut owned) = self.owned.lock() {
            owned.remove(&p);
        }
        self.listener.stop_partition(p);
        if let Ok(mut ends) = self.ends.lock() {
            ends.remove(&p);
        }
        if let Ok(tpl) = tpl_of(p, None) {
            let _ = self.consumer.incremental_unassign(&tpl);
        }
    }
}

impl Member {
    /// Joins the group and starts pipelines in `listener` for the partitions it takes.
    /// Must be called inside a tokio runtime.
    pub fn start(
        config: &KafkaConfig,
        partitions: u32,
        listener: Arc<Listener>,
        assignment: Assignment,
    ) -> Result<Self, LogError> {
        let consumer: Arc<HubConsumer> = Arc::new(
            consumer_config(config, &config.group)
                .create()
                .map_err(|e| LogError::Broker(e.to_string()))?,
        );
        let membership = Arc::new(Membership {
            consumer: Arc::clone(&consumer),
            listener,
            owned: Arc::default(),
            ends: Arc::default(),
            config: config.clone(),
        });
        let all: Vec<LogPartition> = Group::ALL
            .into_iter()
            .flat_map(|group| {
                (0..partitions).map(move |partition| LogPartition { group, partition })
            })
            .collect();
        let mut registration = None;
        let coordinator = match assignment {
            Assignment::All => {
                let membership = Arc::clone(&membership);
                tokio::spawn(async move {
                    let mut pending = all;
                    while !pending.is_empty() {
                        let mut failed = Vec::new();
                        for p in pending {
                            if membership.take(p).await.is_err() {
                                failed.push(p);
                            }
                        }
                        pending = failed;
                        if !pending.is_empty() {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                })
            }
            Assignment::ZooKeeper(registry) => {
                use arpc::registry::Registrar;
                let me = arpc::registry::Instance::new(
                    LISTENER_SERVICE,
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                );
                let id = me.id.clone();
                registration = Some(registry.register(me));
                tokio::spawn(coordinate(registry, id, all, Arc::clone(&membership)))
            }
        };
        let events = {
            let consumer = Arc::clone(&consumer);
            tokio::spawn(async move { serve_events(consumer).await })
        };
        let watermarks = {
            let (consumer, ends) = (Arc::clone(&consumer), Arc::clone(&membership.ends));
            tokio::spawn(async move { watermarks(consumer, ends).await })
        };
        Ok(Self {
            consumer,
            tasks: vec![coordinator, events, watermarks],
            _registration: registration,
        })
    }
}

/// The service name listeners register under in ZooKeeper.
pub const LISTENER_SERVICE: &str = "datahub.listener";

/// Follows the listeners registered in ZooKeeper and takes this member's share: gives up
/// what is no longer its own first, then takes what is new (retrying any it could not take).
async fn coordinate(
    registry: arpc::registry::ZooKeeper,
    me: String,
    all: Vec<LogPartition>,
    membership: Arc<Membership>,
) {
    use arpc::registry::Change;
    use arpc::registry::Discovery;
    use futures_util::StreamExt;
    let mut changes = registry.discover(LISTENER_SERVICE);
    let mut members: HashSet<String> = HashSet::new();
    let mut mine: Vec<LogPartition> = Vec::new();
    let mut wanted: Vec<LogPartition> = Vec::new();
    loop {
        // Take the changes that arrive together, then settle once; while a partition could
        // not be taken, look again shortly even without a change.
        let retry = mine.len() != wanted.len();
        let first = if retry {
            match tokio::time::timeout(Duration::from_secs(1), changes.next()).await {
                Ok(Some(Ok(c))) => Some(c),
                Ok(Some(Err(_))) | Err(_) => None,
                Ok(None) => return,
            }
        } else {
            match changes.next().await {
                Some(Ok(c)) => Some(c),
                Some(Err(_)) => continue,
                None => return,
            }
        };
        let mut batch: Vec<Change> = first.into_iter().collect();
        while let Ok(Some(Ok(c))) =
            tokio::time::timeout(Duration::from_millis(200), changes.next()).await
        {
            batch.push(c);
        }
        for change in batch {
            match change {
                Change::Insert(id, _) => {
                    members.insert(id);
                }
                Change::Remove(id) => {
                    members.remove(&id);
                }
            }
        }
        let list: Vec<String> = members.iter().cloned().collect();
        wanted = share(&all, &list, &me);
        for p in mine.clone() {
            if !wanted.contains(&p) {
                membership.give_up(p);
                mine.retain(|q| *q != p);
            }
        }
        for p in wanted.clone() {
            if !mine.contains(&p) && membership.take(p).await.is_ok() {
                mine.push(p);
            }
        }
    }
}

/// Serves the consumer's main queue (errors, statistics). Records never arrive there: each
/// partition's queue is split off before the partition is assigned.
async fn serve_events(consumer: Arc<HubConsumer>) {
    loop {
        if consumer.recv().await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Keeps each owned partition's end offset current (for lag), from the broker's watermarks.
async fn watermarks(consumer: Arc<HubConsumer>, ends: Ends) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let owned: Vec<(LogPartition, Arc<AtomicU64>)> = ends
            .lock()
            .map(|e| e.iter().map(|(p, end)| (*p, Arc::clone(end))).collect())
            .unwrap_or_default();
        for (p, end) in owned {
            let c = Arc::clone(&consumer);
            let high = tokio::task::spawn_blocking(move || {
                c.fetch_watermarks(&p.group.topic(), partition_index(p), Duration::from_secs(2))
            })
            .await;
            if let Ok(Ok((_, high))) = high {
                end.fetch_max(u64::try_from(high).unwrap_or(0), Ordering::Relaxed);
            }
        }
    }
}

/// A Kafka partition as a pipeline reads it.
pub enum PartitionSource {
    /// An assigned partition of this group member.
    Member {
        /// The partition.
        partition: LogPartition,
        /// The partition's own queue in librdkafka.
        queue: StreamPartitionQueue<DefaultConsumerContext>,
        /// The consumer (for seeks and offset look-ups).
        consumer: Arc<HubConsumer>,
        /// The next offset expected.
        next: u64,
        /// The partition's end, as last seen.
        end: Arc<AtomicU64>,
        /// Settings.
        config: KafkaConfig,
    },
    /// A partition read on its own (a replay), by a consumer outside the group.
    Assigned {
        /// The partition.
        partition: LogPartition,
        /// Its own consumer, assigned the partition.
        consumer: Box<StreamConsumer>,
        /// The next offset expected.
        next: u64,
        /// The partition's end when the reader was made.
        end: u64,
    },
}

impl std::fmt::Debug for PartitionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionSource")
            .field("position", &self.position())
            .finish_non_exhaustive()
    }
}

impl PartitionSource {
    fn partition(&self) -> LogPartition {
        match self {
            PartitionSource::Member { partition, .. }
            | PartitionSource::Assigned { partition, .. } => *partition,
        }
    }

    /// The next offset to read.
    pub fn position(&self) -> u64 {
        match self {
            PartitionSource::Member { next, .. } | PartitionSource::Assigned { next, .. } => *next,
        }
    }

    /// The partition's end as last seen.
    pub fn end(&self) -> u64 {
        match self {
            PartitionSource::Member { end, next, .. } => end.load(Ordering::Relaxed).max(*next),
            PartitionSource::Assigned { end, next, .. } => (*end).max(*next),
        }
    }

    /// Up to `max` records (see [`Source::fetch`]).
    pub async fn fetch(
        &mut self,
        max: usize,
        linger: Duration,
        wait: bool,
        directory: &mut watch::Receiver<Arc<Snapshot>>,
    ) -> Result<Vec<LogRecord>, LogError> {
        match self {
            PartitionSource::Member {
                partition,
                queue,
                next,
                end,
                ..
            } => {
                let p = *partition;
                let mut out = Vec::new();
                take(queue, p, &mut out, next, max);
                if out.is_empty() && wait {
                    tokio::select! {
                        r = queue.recv() => if let Ok(m) = r {
                            let record = to_record(p, &m);
                            drop(m);
                            accept(record, &mut out, next);
                        },
                        _ = directory.changed() => return Ok(out),
                        () = tokio::time::sleep(Duration::from_millis(200)) => return Ok(out),
                    }
                    take(queue, p, &mut out, next, max);
                }
                if wait && !out.is_empty() && out.len() < max && !linger.is_zero() {
                    tokio::time::sleep(linger).await;
                    take(queue, p, &mut out, next, max);
                }
                end.fetch_max(*next, Ordering::Relaxed);
                Ok(out)
            }
            PartitionSource::Assigned {
                consumer,
                next,
                end,
                ..
            } => {
                let mut out = Vec::new();
                let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
                while out.len() < max && *next < *end {
                    let r = tokio::select! {
                        r = consumer.recv() => r,
                        () = tokio::time::sleep_until(deadline) => break,
                    };
                    if let Ok(m) = r {
                        let record = to_record(self_partition(&m), &m);
                        drop(m);
                        accept(record, &mut out, next);
                    }
                }
                Ok(out)
            }
        }
    }

    /// The offset `to` names.
    pub async fn resolve(&self, to: SeekTo) -> Result<u64, LogError> {
        let p = self.partition();
        let topic = p.group.topic();
        let partition = i32::try_from(p.partition).unwrap_or(0);
        let consumer: Arc<dyn WatermarkSource> = match self {
            PartitionSource::Member { consumer, .. } => {
                Arc::clone(consumer) as Arc<dyn WatermarkSource>
            }
            PartitionSource::Assigned { .. } => {
                return Err(LogError::Config("a replay reader does not seek".into()));
            }
        };
        tokio::task::spawn_blocking(move || -> Result<u64, LogError> {
            let broker = |e: rdkafka::error::KafkaError| LogError::Broker(e.to_string());
            let (low, high) = consumer.watermarks(&topic, partition).map_err(broker)?;
            let (low, high) = (
                u64::try_from(low).unwrap_or(0),
                u64::try_from(high).unwrap_or(0),
            );
            Ok(match to {
                SeekTo::Offset(o) => o.clamp(low, high.max(low)),
                SeekTo::Beginning => low,
                SeekTo::End => high,
                SeekTo::TimestampMs(t) => consumer
                    .offset_for_time(&topic, partition, t)
                    .map_err(broker)?
                    .map_or(high, |o| o.clamp(low, high.max(low))),
            })
        })
        .await
        .map_err(|_| LogError::Closed)?
    }

    /// Moves to `offset`: the consumer seeks (librdkafka drops what it had fetched before the
    /// seek), and records before `offset` are dropped as they arrive.
    pub async fn seek(&mut self, offset: u64) -> Result<(), LogError> {
        match self {
            PartitionSource::Member {
                partition,
                consumer,
                next,
                ..
            } => {
                let c = Arc::clone(consumer);
                let p = *partition;
                tokio::task::spawn_blocking(move || {
                    c.seek(
                        &p.group.topic(),
                        i32::try_from(p.partition).unwrap_or(0),
                        Offset::Offset(i64::try_from(offset).unwrap_or(i64::MAX)),
                        Duration::from_secs(5),
                    )
                })
                .await
                .map_err(|_| LogError::Closed)?
                .map_err(|e| LogError::Broker(e.to_string()))?;
                *next = offset;
                Ok(())
            }
            PartitionSource::Assigned { .. } => {
                Err(LogError::Config("a replay reader does not seek".into()))
            }
        }
    }

    /// A reader of the same partition from `offset`, outside the group (for replays).
    pub async fn replay_reader(&self, offset: u64) -> Result<PartitionSource, LogError> {
        let PartitionSource::Member {
            partition,
            config,
            end,
            ..
        } = self
        else {
            return Err(LogError::Config(
                "a replay reader does not make readers".into(),
            ));
        };
        let p = *partition;
        let group = format!("{}-replay-{}", config.group, std::process::id());
        let consumer: StreamConsumer = consumer_config(config, &group)
            .create()
            .map_err(|e| LogError::Broker(e.to_string()))?;
        let tpl = tpl_of(
            p,
            Some(Offset::Offset(i64::try_from(offset).unwrap_or(i64::MAX))),
        )
        .map_err(|e| LogError::Broker(e.to_string()))?;
        consumer
            .assign(&tpl)
            .map_err(|e| LogError::Broker(e.to_string()))?;
        Ok(PartitionSource::Assigned {
            partition: p,
            consumer: Box::new(consumer),
            next: offset,
            end: end.load(Ordering::Relaxed),
        })
    }
}

fn self_partition(m: &BorrowedMessage<'_>) -> LogPartition {
    LogPartition {
        group: Group::ALL
            .into_iter()
            .find(|g| g.topic() == m.topic())
            .unwrap_or(Group::Member),
        partition: u32::try_from(m.partition()).unwrap_or(0),
    }
}

/// Takes what is in the partition's queue now, up to `max`.
fn take(
    queue: &StreamPartitionQueue<DefaultConsumerContext>,
    p: LogPartition,
    out: &mut Vec<LogRecord>,
    next: &mut u64,
    max: usize,
) {
    while out.len() < max {
        match queue.recv().now_or_never() {
            Some(Ok(m)) => {
                let record = to_record(p, &m);
                drop(m);
                accept(record, out, next);
            }
            Some(Err(_)) | None => return,
        }
    }
}

/// Keeps a record at or after the expected offset (Kafka offsets may have gaps); drops one
/// from before it (left over from before a seek).
fn accept(r: LogRecord, out: &mut Vec<LogRecord>, next: &mut u64) {
    if r.offset >= *next {
        *next = r.offset + 1;
        out.push(r);
    }
}

/// Offset look-ups a seek needs (blocking broker calls).
trait WatermarkSource: Send + Sync {
    fn watermarks(&self, topic: &str, partition: i32) -> KafkaResult<(i64, i64)>;
    fn offset_for_time(&self, topic: &str, partition: i32, ts: i64) -> KafkaResult<Option<u64>>;
}

impl WatermarkSource for HubConsumer {
    fn watermarks(&self, topic: &str, partition: i32) -> KafkaResult<(i64, i64)> {
        self.fetch_watermarks(topic, partition, Duration::from_secs(5))
    }

    fn offset_for_time(&self, topic: &str, partition: i32, ts: i64) -> KafkaResult<Option<u64>> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(ts))?;
        let found = self.offsets_for_times(tpl, Duration::from_secs(5))?;
        Ok(found.elements().first().and_then(|e| match e.offset() {
            Offset::Offset(o) => u64::try_from(o).ok(),
            _ => None,
        }))
    }
}

/// Committed positions in the consumer group.
#[derive(Clone)]
pub struct GroupOffsets {
    consumer: Arc<HubConsumer>,
    owned: Owned,
}

impl std::fmt::Debug for GroupOffsets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupOffsets").finish_non_exhaustive()
    }
}

impl GroupOffsets {
    /// Commits `next` for `p` (asynchronously in librdkafka), unless this member no longer
    /// owns `p` (the new owner's position wins).
    pub async fn commit(&self, p: LogPartition, next: u64) -> Result<(), String> {
        let owned = self.owned.lock().map(|o| o.contains(&p)).unwrap_or(false);
        if !owned {
            return Ok(());
        }
        let tpl = tpl_of(
            p,
            Some(Offset::Offset(i64::try_from(next).unwrap_or(i64::MAX))),
        )
        .map_err(|e| e.to_string())?;
        self.consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| e.to_string())
    }

    /// The committed position of `p`.
    pub async fn load(&self, p: LogPartition) -> Result<Option<u64>, String> {
        let consumer = Arc::clone(&self.consumer);
        tokio::task::spawn_blocking(move || {
            let tpl = tpl_of(p, None).map_err(|e| e.to_string())?;
            let found = consumer
                .committed_offsets(tpl, Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            Ok(found.elements().first().and_then(|e| match e.offset() {
                Offset::Offset(o) => u64::try_from(o).ok(),
                _ => None,
            }))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}
