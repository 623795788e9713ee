//! A listener process as a member of the Kafka consumer group.
//!
//! One `StreamConsumer` per process subscribes to both topics. A dispatcher task reads it
//! and hands each record to its partition's bounded channel; the partition's pipeline reads
//! that channel as its [`Source`]. When a channel is full
//! (the pipeline is behind, or paused), the dispatcher pauses that partition in the consumer
//! (librdkafka then stops fetching it and drops what it had prefetched) and resumes it once
//! the channel has room, so memory stays bounded per partition and one slow partition never
//! holds up the others.
//!
//! Rebalances: on an assignment, pipelines start for the new partitions (each re-reads the
//! pause state from the directory, so pauses survive a rebalance); on a revocation they stop
//! at once and the partitions are marked as no longer owned, so nothing more is committed for
//! them (a broker that does not fence commits by generation would otherwise accept them).
//! Offsets are committed to the group after the shards commit; the next owner starts from
//! there and re-applies anything after it, which the version guard makes harmless.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};

use super::KafkaConfig;
use crate::directory::{SeekTo, Snapshot};
use crate::listener::Listener;
use crate::listener::source::{Offsets, Source};
use crate::log::{LogError, LogRecord};
use crate::partition::{Group, LogPartition};

/// Records buffered per partition between the dispatcher and the pipeline.
const PARTITION_BUFFER: usize = 4096;

type Owned = Arc<Mutex<HashSet<LogPartition>>>;

struct Route {
    tx: mpsc::Sender<LogRecord>,
    overflow: VecDeque<LogRecord>,
    paused: bool,
    end: Arc<AtomicU64>,
}

type Routes = Arc<Mutex<HashMap<LogPartition, Route>>>;

enum GroupEvent {
    Assigned(Vec<(LogPartition, mpsc::Receiver<LogRecord>, Arc<AtomicU64>)>),
    Revoked(Vec<LogPartition>),
}

/// The consumer's context: turns rebalances into pipeline starts and stops.
pub struct HubContext {
    events: mpsc::UnboundedSender<GroupEvent>,
    owned: Owned,
    routes: Routes,
}

impl ClientContext for HubContext {}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<LogPartition> {
    tpl.elements()
        .iter()
        .filter_map(|e| {
            let group = Group::ALL.into_iter().find(|g| g.topic() == e.topic())?;
            Some(LogPartition {
                group,
                partition: u32::try_from(e.partition()).ok()?,
            })
        })
        .collect()
}

impl HubContext {
    /// Partitions taken away: no more commits for them, no more routing, pipelines stop.
    fn revoke(&self, tpl: &TopicPartitionList) {
        {
            let revoked = partitions_of(tpl);
            if let Ok(mut owned) = self.owned.lock() {
                for p in &revoked {
                    owned.remove(p);
                }
            }
            if let Ok(mut routes) = self.routes.lock() {
                for p in &revoked {
                    routes.remove(p);
                }
            }
            let _ = self.events.send(GroupEvent::Revoked(revoked));
        }
    }

    /// Partitions given: a route and a pipeline each.
    fn assign(&self, tpl: &TopicPartitionList) {
        {
            let assigned = partitions_of(tpl);
            let mut started = Vec::new();
            if let (Ok(mut owned), Ok(mut routes)) = (self.owned.lock(), self.routes.lock()) {
                for p in assigned {
                    owned.insert(p);
                    let (tx, rx) = mpsc::channel(PARTITION_BUFFER);
                    let end = Arc::new(AtomicU64::new(0));
                    routes.insert(
                        p,
                        Route {
                            tx,
                            overflow: VecDeque::new(),
                            paused: false,
                            end: Arc::clone(&end),
                        },
                    );
                    started.push((p, rx, end));
                }
            }
            let _ = self.events.send(GroupEvent::Assigned(started));
        }
    }
}

impl ConsumerContext for HubContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.revoke(tpl);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.assign(tpl);
        }
    }

    fn commit_callback(&self, _result: KafkaResult<()>, _offsets: &TopicPartitionList) {}
}

type HubConsumer = StreamConsumer<HubContext>;

/// How partitions are shared among the listener processes.
#[derive(Debug, Clone)]
pub enum Assignment {
    /// This process takes every partition (a manual assignment; offsets still committed to
    /// the group): the embedded directory means one listener process.
    All,
    /// The broker's consumer-group protocol (`subscribe`), for Kafka clusters. Not used with
    /// tansu 0.6, whose group coordinator neither hands a dead member's partitions to the
    /// others nor re-forms the group after a broker restart (both seen in this project's
    /// tests).
    Group,
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
        // Leave the group cleanly, so the others get the partitions at once (the ZooKeeper
        // registration, dropped with this, does the same for ZooKeeper assignment).
        self.consumer.unsubscribe();
    }
}

fn tpl_of(p: LogPartition, offset: Option<u64>) -> KafkaResult<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    let partition = i32::try_from(p.partition).unwrap_or(0);
    match offset {
        Some(o) => {
            tpl.add_partition_offset(
                &p.group.topic(),
                partition,
                Offset::Offset(i64::try_from(o).unwrap_or(i64::MAX)),
            )?;
        }
        None => {
            tpl.add_partition(&p.group.topic(), partition);
        }
    }
    Ok(tpl)
}

fn consumer_config(config: &KafkaConfig, group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("partition.assignment.strategy", "range")
        .set(
            "session.timeout.ms",
            config.session_timeout.as_millis().to_string(),
        )
        .set("heartbeat.interval.ms", "500")
        .set(
            "fetch.wait.max.ms",
            config.fetch_wait.as_millis().to_string(),
        )
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

impl Member {
    /// Joins the group and starts pipelines in `listener` for the partitions it is given.
    /// Must be called inside a tokio runtime.
    pub fn start(
        config: &KafkaConfig,
        partitions: u32,
        listener: Arc<Listener>,
        assignment: Assignment,
    ) -> Result<Self, LogError> {
        let (events, mut event_rx) = mpsc::unbounded_channel();
        let owned: Owned = Arc::default();
        let routes: Routes = Arc::default();
        let context = HubContext {
            events,
            owned: Arc::clone(&owned),
            routes: Arc::clone(&routes),
        };
        let consumer: Arc<HubConsumer> = Arc::new(
            consumer_config(config, &config.group)
                .create_with_context(context)
                .map_err(|e| LogError::Broker(e.to_string()))?,
        );
        let mut registration = None;
        let mut coordinator = None;
        let all: Vec<LogPartition> = Group::ALL
            .into_iter()
            .flat_map(|group| {
                (0..partitions).map(move |partition| LogPartition { group, partition })
            })
            .collect();
        match assignment {
            Assignment::All => {
                let mut tpl = TopicPartitionList::new();
                for p in &all {
                    tpl.add_partition(&p.group.topic(), i32::try_from(p.partition).unwrap_or(0));
                }
                consumer
                    .assign(&tpl)
                    .map_err(|e| LogError::Broker(e.to_string()))?;
                consumer.context().assign(&tpl);
            }
            Assignment::Group => {
                let topics: Vec<String> = Group::ALL.iter().map(|g| g.topic()).collect();
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                consumer
                    .subscribe(&names)
                    .map_err(|e| LogError::Broker(e.to_string()))?;
            }
            Assignment::ZooKeeper(registry) => {
                use arpc::registry::Registrar;
                let me = arpc::registry::Instance::new(
                    LISTENER_SERVICE,
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                );
                let id = me.id.clone();
                registration = Some(registry.register(me));
                let all: Vec<LogPartition> = Group::ALL
                    .into_iter()
                    .flat_map(|group| {
                        (0..partitions).map(move |partition| LogPartition { group, partition })
                    })
                    .collect();
                coordinator = Some(tokio::spawn(coordinate(
                    registry,
                    id,
                    all,
                    Arc::clone(&consumer),
                )));
            }
        }

        let dispatcher = {
            let (consumer, routes) = (Arc::clone(&consumer), Arc::clone(&routes));
            tokio::spawn(async move { dispatch(consumer, routes).await })
        };
        let relief = {
            let (consumer, routes) = (Arc::clone(&consumer), Arc::clone(&routes));
            tokio::spawn(async move { relieve(consumer, routes).await })
        };
        let watermarks = {
            let (consumer, routes) = (Arc::clone(&consumer), Arc::clone(&routes));
            tokio::spawn(async move { watermarks(consumer, routes).await })
        };
        let rebalances = {
            let consumer = Arc::clone(&consumer);
            let config = config.clone();
            tokio::spawn(async move {
                while let Some(event) = event_rx.recv().await {
                    match event {
                        GroupEvent::Revoked(ps) => {
                            for p in ps {
                                listener.stop_partition(p);
                            }
                        }
                        GroupEvent::Assigned(ps) => {
                            for (p, rx, end) in ps {
                                let offsets = Offsets::Kafka(GroupOffsets {
                                    consumer: Arc::clone(&consumer),
                                    owned: Arc::clone(&owned),
                                });
                                let start = offsets.load(p).await.ok().flatten().unwrap_or(0);
                                let source = PartitionSource::Member {
                                    partition: p,
                                    rx,
                                    consumer: Arc::clone(&consumer),
                                    next: start,
                                    end,
                                    config: config.clone(),
                                };
                                listener.start_partition(p, Source::Kafka(source), offsets);
                            }
                        }
                    }
                }
            })
        };
        let mut tasks = vec![dispatcher, relief, watermarks, rebalances];
        tasks.extend(coordinator);
        Ok(Self {
            consumer,
            tasks,
            _registration: registration,
        })
    }
}

/// The service name listeners register under in ZooKeeper.
pub const LISTENER_SERVICE: &str = "datahub.listener";

/// Follows the listeners registered in ZooKeeper and assigns this member its share, through
/// the same rebalance path the group protocol uses (revoke what is no longer ours, then
/// assign what is new).
async fn coordinate(
    registry: arpc::registry::ZooKeeper,
    me: String,
    all: Vec<LogPartition>,
    consumer: Arc<HubConsumer>,
) {
    use arpc::registry::Change;
    use arpc::registry::Discovery;
    use futures_util::StreamExt;
    let mut changes = registry.discover(LISTENER_SERVICE);
    let mut members: HashSet<String> = HashSet::new();
    let mut mine: Vec<LogPartition> = Vec::new();
    loop {
        // Take the changes that arrive together, then settle once.
        let first = match changes.next().await {
            Some(Ok(c)) => c,
            Some(Err(_)) => continue,
            None => return,
        };
        let mut batch = vec![first];
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
        let wanted = share(&all, &list, &me);
        if wanted == mine {
            continue;
        }
        let revoked: Vec<LogPartition> = mine
            .iter()
            .filter(|p| !wanted.contains(p))
            .copied()
            .collect();
        let context = consumer.context();
        if !revoked.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for p in &revoked {
                tpl.add_partition(&p.group.topic(), i32::try_from(p.partition).unwrap_or(0));
            }
            context.revoke(&tpl);
        }
        // Routes (and pipelines) for the added partitions exist before the consumer fetches
        // them: a record the dispatcher receives for a partition without a route is dropped,
        // and the consumer's position has moved past it, so it would be lost.
        let added: Vec<LogPartition> = wanted
            .iter()
            .filter(|p| !mine.contains(p))
            .copied()
            .collect();
        let mut added_tpl = TopicPartitionList::new();
        for p in &added {
            added_tpl.add_partition(&p.group.topic(), i32::try_from(p.partition).unwrap_or(0));
        }
        context.assign(&added_tpl);
        let mut tpl = TopicPartitionList::new();
        for p in &wanted {
            tpl.add_partition(&p.group.topic(), i32::try_from(p.partition).unwrap_or(0));
        }
        // `assign` replaces the whole assignment; partitions kept restart from their
        // committed offsets, and the pipelines drop what they already had.
        if consumer.assign(&tpl).is_err() {
            context.revoke(&added_tpl);
            mine.retain(|p| !revoked.contains(p));
            continue;
        }
        mine = wanted;
    }
}

/// Reads the consumer and routes records to their partitions' channels; a full channel
/// pauses the partition in the consumer (the record is kept aside).
async fn dispatch(consumer: Arc<HubConsumer>, routes: Routes) {
    loop {
        let Ok(message) = consumer.recv().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(group) = Group::ALL
            .into_iter()
            .find(|g| g.topic() == message.topic())
        else {
            continue;
        };
        let p = LogPartition {
            group,
            partition: u32::try_from(message.partition()).unwrap_or(0),
        };
        let record = to_record(p, &message);
        drop(message);
        let mut pause = false;
        if let Ok(mut routes) = routes.lock()
            && let Some(route) = routes.get_mut(&p)
        {
            route.end.fetch_max(record.offset + 1, Ordering::Relaxed);
            if route.overflow.is_empty() {
                if let Err(mpsc::error::TrySendError::Full(r)) = route.tx.try_send(record) {
                    route.overflow.push_back(r);
                }
            } else {
                route.overflow.push_back(record);
            }
            if !route.overflow.is_empty() && !route.paused {
                route.paused = true;
                pause = true;
            }
        }
        if pause && let Ok(tpl) = tpl_of(p, None) {
            let _ = consumer.pause(&tpl);
        }
    }
}

/// Moves kept-aside records into their channels as room appears, and resumes partitions
/// whose backlog is gone.
async fn relieve(consumer: Arc<HubConsumer>, routes: Routes) {
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut resume = Vec::new();
        if let Ok(mut routes) = routes.lock() {
            for (p, route) in routes.iter_mut() {
                while let Some(r) = route.overflow.pop_front() {
                    match route.tx.try_send(r) {
                        Ok(()) => {}
                        Err(
                            mpsc::error::TrySendError::Full(r)
                            | mpsc::error::TrySendError::Closed(r),
                        ) => {
                            route.overflow.push_front(r);
                            break;
                        }
                    }
                }
                if route.paused
                    && route.overflow.is_empty()
                    && route.tx.capacity() > PARTITION_BUFFER / 2
                {
                    route.paused = false;
                    resume.push(*p);
                }
            }
        }
        for p in resume {
            if let Ok(tpl) = tpl_of(p, None) {
                let _ = consumer.resume(&tpl);
            }
        }
    }
}

/// Keeps each owned partition's end offset current (for lag), from the broker's watermarks.
async fn watermarks(consumer: Arc<HubConsumer>, routes: Routes) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let owned: Vec<(LogPartition, Arc<AtomicU64>)> = routes
            .lock()
            .map(|r| {
                r.iter()
                    .map(|(p, route)| (*p, Arc::clone(&route.end)))
                    .collect()
            })
            .unwrap_or_default();
        for (p, end) in owned {
            let c = Arc::clone(&consumer);
            let high = tokio::task::spawn_blocking(move || {
                c.fetch_watermarks(
                    &p.group.topic(),
                    i32::try_from(p.partition).unwrap_or(0),
                    Duration::from_secs(2),
                )
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
        /// Records from the dispatcher.
        rx: mpsc::Receiver<LogRecord>,
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
            PartitionSource::Member { rx, next, .. } => {
                let mut out = Vec::new();
                take(rx, &mut out, next, max);
                if out.is_empty() && wait {
                    tokio::select! {
                        r = rx.recv() => if let Some(r) = r { accept(r, &mut out, next) },
                        _ = directory.changed() => return Ok(out),
                        () = tokio::time::sleep(Duration::from_millis(200)) => return Ok(out),
                    }
                    take(rx, &mut out, next, max);
                }
                if wait && !out.is_empty() && out.len() < max && !linger.is_zero() {
                    tokio::time::sleep(linger).await;
                    take(rx, &mut out, next, max);
                }
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

    /// Moves to `offset`: the consumer seeks, and records before it still in the channel are
    /// dropped.
    pub async fn seek(&mut self, offset: u64) -> Result<(), LogError> {
        match self {
            PartitionSource::Member {
                partition,
                rx,
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
                while rx.try_recv().is_ok() {}
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
        let tpl = tpl_of(p, Some(offset)).map_err(|e| LogError::Broker(e.to_string()))?;
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

/// Takes what is in the channel now, up to `max`.
fn take(rx: &mut mpsc::Receiver<LogRecord>, out: &mut Vec<LogRecord>, next: &mut u64, max: usize) {
    while out.len() < max {
        match rx.try_recv() {
            Ok(r) => accept(r, out, next),
            Err(_) => return,
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
        let tpl = tpl_of(p, Some(next)).map_err(|e| e.to_string())?;
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
