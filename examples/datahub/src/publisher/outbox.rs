//! Publishing to Kafka, with the local segment log as an **outbox** while the broker cannot
//! take records.
//!
//! Records go to the broker through an idempotent producer (`acks=all`), to the partition
//! Kafka's default partitioner would pick (murmur2 of the partition key), so a JVM producer
//! writing the same key lands in the same partition. A produce that has not succeeded within
//! `outbox_after` fails; the failed record and every later record of that partition in the
//! call go to the outbox (durably, through group commit), and from then on **every** new
//! record of that partition goes to the outbox too, until the relay has drained it: the relay
//! produces the outbox's records to the broker in order and, once it has caught up with the
//! outbox's end, hands the partition back to direct produce (the hand-back and the outbox
//! append take the same lock, so nothing slips in between). Within one call, a key's later
//! records are produced only after its earlier ones were delivered: librdkafka times records
//! out one by one, so near a broker restart an earlier record can fail while a later one gets
//! through, and the earlier one's outbox copy would then stand behind it. Per-key order in a
//! partition holds, and a record acknowledged through the outbox is durable before the caller
//! hears of it.
//!
//! A record whose produce timed out may still have reached the broker (the broker took it,
//! the answer was lost); its outbox copy then lands a second time. The listener's dedupe and
//! the shards' version guard make the second copy harmless.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::log::group_commit::Append;
use crate::log::kafka::KafkaConfig;
use crate::log::{GroupCommit, LogError, SegmentLog};
use crate::meta::MetaDb;
use crate::model::Event;
use crate::partition::LogPartition;

/// Whether a partition's records go to the outbox, and how far the relay drained it.
#[derive(Debug, Default)]
struct PartitionState {
    /// Records of this partition go to the outbox (it holds undrained records).
    outboxed: bool,
}

/// The Kafka sink of a publisher.
pub struct KafkaSink {
    config: KafkaConfig,
    producer: std::sync::Mutex<Arc<FutureProducer>>,
    /// A produce failed: make a new producer before the next one. After delivery time-outs
    /// librdkafka's idempotent producer asks the broker to bump its epoch, which tansu 0.6
    /// refuses ("unknown broker error") for good; a new producer gets a new producer id.
    failed: std::sync::atomic::AtomicBool,
    outbox: Arc<GroupCommit>,
    meta: MetaDb,
    states: BTreeMap<LogPartition, tokio::sync::Mutex<PartitionState>>,
    runtime: tokio::runtime::Handle,
    wake_relay: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("brokers", &self.config.brokers)
            .field("outbox", &self.outbox.log().dir())
            .finish()
    }
}

fn producer(config: &KafkaConfig) -> Result<FutureProducer, LogError> {
    ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        // One request in flight per broker: a failed request then fails every later record of
        // the partition too, so a failure never leaves a later record in the topic ahead of an
        // earlier one (which the outbox would then append again, out of order).
        .set("max.in.flight.requests.per.connection", "1")
        .set(
            "message.timeout.ms",
            config.outbox_after.as_millis().max(100).to_string(),
        )
        .set("socket.nagle.disable", "true")
        .create()
        .map_err(|e| LogError::Broker(e.to_string()))
}

impl KafkaSink {
    /// A sink producing to `config.brokers`, with its outbox in `outbox` (offsets of the
    /// relay kept in `meta`). Starts the relay task. Must be called inside a tokio runtime.
    pub async fn start(
        config: KafkaConfig,
        outbox: Arc<GroupCommit>,
        meta: MetaDb,
    ) -> Result<Arc<Self>, LogError> {
        let mut states = BTreeMap::new();
        for p in outbox.log().partition_ids().collect::<Vec<_>>() {
            let drained = meta
                .offset(p)
                .await
                .map_err(|e| LogError::Broker(e.to_string()))?
                .unwrap_or(0);
            let end = outbox.log().durable_end(p)?;
            states.insert(
                p,
                tokio::sync::Mutex::new(PartitionState {
                    outboxed: drained < end,
                }),
            );
        }
        let sink = Arc::new(Self {
            producer: std::sync::Mutex::new(Arc::new(producer(&config)?)),
            failed: std::sync::atomic::AtomicBool::new(false),
            config,
            outbox,
            meta,
            states,
            runtime: tokio::runtime::Handle::current(),
            wake_relay: Arc::new(tokio::sync::Notify::new()),
        });
        tokio::spawn(relay(Arc::downgrade(&sink)));
        Ok(sink)
    }

    /// The producer, made again if the last one failed a produce or hit a fatal error (the
    /// idempotent producer's state cannot be recovered otherwise).
    fn producer(&self) -> Result<Arc<FutureProducer>, LogError> {
        use std::sync::atomic::Ordering;
        let mut slot = self.producer.lock().map_err(|_| LogError::Closed)?;
        if self.failed.swap(false, Ordering::AcqRel) || slot.client().fatal_error().is_some() {
            *slot = Arc::new(producer(&self.config)?);
        }
        Ok(Arc::clone(&slot))
    }

    /// Produces `records` (their partition already chosen) and waits for the broker; per
    /// record, its Kafka offset or the error.
    async fn produce(&self, records: &[Append]) -> Vec<Result<u64, String>> {
        let producer = match self.producer() {
            Ok(p) => p,
            Err(e) => return records.iter().map(|_| Err(e.to_string())).collect(),
        };
        let topics: Vec<String> = records.iter().map(|r| r.partition.group.topic()).collect();
        let futures: Vec<_> = records
            .iter()
            .zip(&topics)
            .map(|(r, topic)| {
                let partition = i32::try_from(r.partition.partition).unwrap_or(0);
                producer
                    .send_result(
                        FutureRecord::to(topic)
                            .partition(partition)
                            .key(r.key.as_ref())
                            .payload(r.value.as_ref()),
                    )
                    .map_err(|(e, _)| e.to_string())
            })
            .collect();
        let waits = futures.into_iter().map(|f| async move {
            match f {
                Ok(delivery) => match delivery.await {
                    Ok(Ok(d)) => u64::try_from(d.offset).map_err(|_| "no offset".to_owned()),
                    Ok(Err((e, _))) => Err(e.to_string()),
                    Err(_) => Err("the producer went away".to_owned()),
                },
                Err(e) => Err(e),
            }
        });
        let results = join_all(waits).await;
        if results.iter().any(Result::is_err) {
            self.failed
                .store(true, std::sync::atomic::Ordering::Release);
        }
        results
    }

    /// Appends durably: to the broker, or to the outbox for partitions that are outboxed or
    /// whose produce failed. Per record, its offset (Kafka's, or the outbox's) and whether
    /// the outbox took it. Blocks (called on the publisher's blocking pool).
    pub fn append(&self, records: Vec<Append>) -> Result<Vec<(u64, bool)>, LogError> {
        self.runtime.block_on(self.append_async(records))
    }

    async fn append_async(&self, records: Vec<Append>) -> Result<Vec<(u64, bool)>, LogError> {
        // Which partitions go to the outbox is read under each partition's lock, but the
        // produce itself runs without locks (publishes to the same partitions overlap).
        let mut outboxed = Vec::new();
        for (p, state) in &self.states {
            if records.iter().any(|r| r.partition == *p) && state.lock().await.outboxed {
                outboxed.push(*p);
            }
        }
        let direct: Vec<usize> = (0..records.len())
            .filter(|&i| !outboxed.contains(&records[i].partition))
            .collect();
        // A key's n-th record of this call goes in round n, after its earlier ones were
        // delivered: a later version never reaches the broker while an earlier one might
        // still fail (a produce times out per record, so near a broker restart an earlier
        // record can time out while a later one gets through, and the outbox copy of the
        // earlier one would then land after it).
        let mut occurrences: BTreeMap<(LogPartition, &[u8]), usize> = BTreeMap::new();
        let rounds: Vec<usize> = direct
            .iter()
            .map(|&i| {
                let seen = occurrences
                    .entry((records[i].partition, records[i].key.as_ref()))
                    .or_insert(0);
                *seen += 1;
                *seen - 1
            })
            .collect();
        let mut out: Vec<Option<(u64, bool)>> = vec![None; records.len()];
        let mut failed: Vec<LogPartition> = Vec::new();
        for round in 0..=rounds.iter().copied().max().unwrap_or(0) {
            // A partition that failed sends nothing more in this call: the rest goes to the
            // outbox, in order.
            let batch: Vec<usize> = direct
                .iter()
                .zip(&rounds)
                .filter(|&(&i, &r)| r == round && !failed.contains(&records[i].partition))
                .map(|(&i, _)| i)
                .collect();
            if batch.is_empty() {
                continue;
            }
            let batch_records: Vec<Append> = batch.iter().map(|&i| records[i].clone()).collect();
            let produced = self.produce(&batch_records).await;
            for (&i, result) in batch.iter().zip(&produced) {
                let p = records[i].partition;
                match result {
                    Ok(offset) if !failed.contains(&p) => out[i] = Some((*offset, false)),
                    // After a failure in this partition, later records of the call go to the
                    // outbox too (even if the broker took them: order first; a duplicate of
                    // the same version is harmless).
                    _ => {
                        if !failed.contains(&p) {
                            failed.push(p);
                        }
                    }
                }
            }
        }
        let to_outbox: Vec<usize> = (0..records.len()).filter(|&i| out[i].is_none()).collect();
        if to_outbox.is_empty() {
            return Ok(out.into_iter().map(|o| o.unwrap_or((0, false))).collect());
        }
        let mut partitions: Vec<LogPartition> =
            to_outbox.iter().map(|&i| records[i].partition).collect();
        partitions.sort();
        partitions.dedup();
        // Hold these partitions' locks over the append (in order: no deadlock), so the relay
        // cannot hand a partition back while its records are being added.
        let mut guards = Vec::with_capacity(partitions.len());
        for p in &partitions {
            let state = self.states.get(p).ok_or(LogError::UnknownPartition(*p))?;
            guards.push(state.lock().await);
        }
        let appends: Vec<Append> = to_outbox.iter().map(|&i| records[i].clone()).collect();
        let outbox = Arc::clone(&self.outbox);
        let offsets = tokio::task::spawn_blocking(move || outbox.append(appends))
            .await
            .map_err(|_| LogError::Closed)??;
        for guard in &mut guards {
            guard.outboxed = true;
        }
        drop(guards);
        for (&i, offset) in to_outbox.iter().zip(offsets) {
            out[i] = Some((offset, true));
        }
        self.wake_relay.notify_one();
        Ok(out.into_iter().map(|o| o.unwrap_or((0, true))).collect())
    }

    /// The events in the outbox's tail (to rebuild the publisher's memory of recent ids).
    pub fn tail(&self, per_partition: usize) -> Vec<(LogPartition, u64, Event)> {
        crate::publisher::Sink::Segment(Arc::clone(&self.outbox)).tail(per_partition)
    }

    /// Partitions whose records go to the outbox now.
    pub async fn outboxed(&self) -> Vec<LogPartition> {
        let mut out = Vec::new();
        for (p, state) in &self.states {
            if state.lock().await.outboxed {
                out.push(*p);
            }
        }
        out
    }

    /// The outbox's log.
    pub fn outbox_log(&self) -> &Arc<SegmentLog> {
        self.outbox.log()
    }
}

/// Drains outboxed partitions to the broker, in order, and hands each back to direct produce
/// once it is empty.
async fn relay(sink: std::sync::Weak<KafkaSink>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(s) = sink.upgrade() else {
            return;
        };
        let mut all_ok = true;
        for (p, state) in &s.states {
            if !state.lock().await.outboxed {
                continue;
            }
            match drain(&s, *p, state).await {
                Ok(()) => {}
                Err(_) => all_ok = false,
            }
        }
        let wait = if all_ok {
            backoff = Duration::from_millis(100);
            Duration::from_millis(100)
        } else {
            backoff = (backoff * 2).min(Duration::from_secs(2));
            backoff
        };
        let wake = Arc::clone(&s.wake_relay);
        drop(s);
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Produces partition `p`'s outbox records from where the relay left off; when the outbox is
/// empty, hands the partition back (under its lock, so no append slips in between).
async fn drain(
    sink: &KafkaSink,
    p: LogPartition,
    state: &tokio::sync::Mutex<PartitionState>,
) -> Result<(), String> {
    let log = sink.outbox.log();
    let mut next = sink
        .meta
        .offset(p)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    loop {
        let mut reader = log.reader(p, next).map_err(|e| e.to_string())?;
        let records = reader
            .read(500, 4 * 1024 * 1024)
            .map_err(|e| e.to_string())?;
        if records.is_empty() {
            let mut guard = state.lock().await;
            if log.durable_end(p).map_err(|e| e.to_string())? <= next {
                guard.outboxed = false;
                return Ok(());
            }
            continue;
        }
        let appends: Vec<Append> = records
            .iter()
            .map(|r| Append {
                partition: p,
                key: r.key.clone(),
                value: r.value.clone(),
            })
            .collect();
        let results = sink.produce(&appends).await;
        if let Some(e) = results.iter().find_map(|r| r.as_ref().err()) {
            // Retry from the same record later: the ones that did go are duplicates then,
            // which the listener's dedupe and the version guard absorb.
            return Err(e.clone());
        }
        next = records.last().map_or(next, |r| r.offset + 1);
        sink.meta
            .commit_offset(p, next)
            .await
            .map_err(|e| e.to_string())?;
    }
}
