//! Where a pipeline reads its partition from, and where it commits its position: the
//! embedded segment log with offsets in the `meta` file, or (feature `kafka`) a partition
//! queue of a Kafka consumer-group member with offsets committed to the group.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::directory::{SeekTo, Snapshot};
use crate::log::{LogError, LogRecord, SegmentLog, SegmentReader};
use crate::meta::MetaDb;
use crate::partition::LogPartition;

/// A partition being read.
#[derive(Debug)]
pub enum Source {
    /// The embedded log.
    Segment {
        /// The log (for seeks by time and replays).
        log: Arc<SegmentLog>,
        /// The reader.
        reader: SegmentReader,
    },
    /// A Kafka partition.
    #[cfg(feature = "kafka")]
    Kafka(crate::log::kafka::PartitionSource),
}

impl Source {
    /// Reads the embedded log's `partition` from `offset`.
    pub fn segment(
        log: Arc<SegmentLog>,
        partition: LogPartition,
        offset: u64,
    ) -> Result<Self, LogError> {
        let reader = log.reader(partition, offset)?;
        Ok(Source::Segment { log, reader })
    }

    /// The next offset to read.
    pub fn position(&self) -> u64 {
        match self {
            Source::Segment { reader, .. } => reader.position(),
            #[cfg(feature = "kafka")]
            Source::Kafka(k) => k.position(),
        }
    }

    /// The log's end as last known.
    pub fn end(&self) -> u64 {
        match self {
            Source::Segment { reader, .. } => reader.durable_end(),
            #[cfg(feature = "kafka")]
            Source::Kafka(k) => k.end(),
        }
    }

    /// Up to `max` records. With `wait`, waits (up to 200 ms) for records when there are
    /// none, and lingers up to `linger` for a fuller batch; wakes early when the directory
    /// changes, so control is never late by more than one wait.
    pub async fn fetch(
        &mut self,
        max: usize,
        linger: Duration,
        wait: bool,
        directory: &mut watch::Receiver<Arc<Snapshot>>,
    ) -> Result<Vec<LogRecord>, LogError> {
        match self {
            Source::Segment { reader, .. } => {
                let mut durable = reader.watch();
                let mut records = reader.read(max, 8 * 1024 * 1024)?;
                if records.is_empty() && wait {
                    tokio::select! {
                        _ = durable.changed() => {}
                        _ = directory.changed() => return Ok(records),
                        () = tokio::time::sleep(Duration::from_millis(200)) => return Ok(records),
                    }
                    records = reader.read(max, 8 * 1024 * 1024)?;
                }
                if wait && !records.is_empty() && records.len() < max && !linger.is_zero() {
                    tokio::time::sleep(linger).await;
                    records.extend(reader.read(max - records.len(), 8 * 1024 * 1024)?);
                }
                Ok(records)
            }
            #[cfg(feature = "kafka")]
            Source::Kafka(k) => k.fetch(max, linger, wait, directory).await,
        }
    }

    /// The offset `to` names in this partition.
    pub async fn resolve(&self, to: SeekTo) -> Result<u64, LogError> {
        match self {
            Source::Segment { log, reader } => {
                let p = reader.partition();
                Ok(match to {
                    SeekTo::Offset(o) => o.clamp(log.start_offset(p)?, log.durable_end(p)?),
                    SeekTo::TimestampMs(t) => log.offset_for_time(p, t)?,
                    SeekTo::Beginning => log.start_offset(p)?,
                    SeekTo::End => log.durable_end(p)?,
                })
            }
            #[cfg(feature = "kafka")]
            Source::Kafka(k) => k.resolve(to).await,
        }
    }

    /// Moves to `offset`.
    pub async fn seek(&mut self, offset: u64) -> Result<(), LogError> {
        match self {
            Source::Segment { reader, .. } => reader.seek(offset),
            #[cfg(feature = "kafka")]
            Source::Kafka(k) => k.seek(offset).await,
        }
    }

    /// A second, independent reader of the same partition from `offset` (for replays).
    pub async fn replay_reader(&self, offset: u64) -> Result<Source, LogError> {
        match self {
            Source::Segment { log, reader } => {
                Source::segment(Arc::clone(log), reader.partition(), offset)
            }
            #[cfg(feature = "kafka")]
            Source::Kafka(k) => k.replay_reader(offset).await.map(Source::Kafka),
        }
    }

    /// Stops (or restarts) fetching ahead while the pipeline is full.
    pub fn hold(&self, on: bool) {
        // The segment log reads only when asked; librdkafka stops fetching a Kafka partition
        // by itself once that partition's own queue holds its prefetch limit.
        let _ = (self, on);
    }
}

/// Where committed positions go.
#[derive(Debug, Clone)]
pub enum Offsets {
    /// The `meta` file (embedded log).
    Meta(MetaDb),
    /// The Kafka consumer group.
    #[cfg(feature = "kafka")]
    Kafka(crate::log::kafka::GroupOffsets),
}

impl Offsets {
    /// Records that everything before `next` of `p` is processed.
    pub async fn commit(&self, p: LogPartition, next: u64) -> Result<(), String> {
        match self {
            Offsets::Meta(meta) => meta.commit_offset(p, next).await.map_err(|e| e.to_string()),
            #[cfg(feature = "kafka")]
            Offsets::Kafka(k) => k.commit(p, next).await,
        }
    }

    /// The committed position of `p`, if any.
    pub async fn load(&self, p: LogPartition) -> Result<Option<u64>, String> {
        match self {
            Offsets::Meta(meta) => meta.offset(p).await.map_err(|e| e.to_string()),
            #[cfg(feature = "kafka")]
            Offsets::Kafka(k) => k.load(p).await,
        }
    }
}
