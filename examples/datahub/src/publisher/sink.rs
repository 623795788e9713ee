//! Where the publisher writes: the embedded log through group commit, or (feature `kafka`)
//! the broker, with the local outbox when the broker is down.

use std::sync::Arc;

use crate::log::group_commit::Append;
use crate::log::{GroupCommit, LogError};
use crate::model::Event;
use crate::partition::LogPartition;

/// The publisher's destination.
#[derive(Debug, Clone)]
pub enum Sink {
    /// The embedded log.
    Segment(Arc<GroupCommit>),
    /// Kafka, with the outbox.
    #[cfg(feature = "kafka")]
    Kafka(Arc<crate::publisher::outbox::KafkaSink>),
}

impl Sink {
    /// Appends durably; per record, its offset and whether the outbox took it.
    pub fn append(&self, records: Vec<Append>) -> Result<Vec<(u64, bool)>, LogError> {
        match self {
            Sink::Segment(gc) => Ok(gc
                .append(records)?
                .into_iter()
                .map(|o| (o, false))
                .collect()),
            #[cfg(feature = "kafka")]
            Sink::Kafka(k) => k.append(records),
        }
    }

    /// The last `per_partition` events of each partition (to rebuild the publisher's memory).
    pub fn tail(&self, per_partition: usize) -> Vec<(LogPartition, u64, Event)> {
        match self {
            Sink::Segment(gc) => {
                let log = gc.log();
                let mut out = Vec::new();
                for p in log.partition_ids().collect::<Vec<_>>() {
                    let (Ok(start), Ok(end)) = (log.start_offset(p), log.durable_end(p)) else {
                        continue;
                    };
                    let from = end.saturating_sub(per_partition as u64).max(start);
                    let Ok(mut reader) = log.reader(p, from) else {
                        continue;
                    };
                    while let Ok(records) = reader.read(10_000, 16 * 1024 * 1024) {
                        if records.is_empty() {
                            break;
                        }
                        for r in records {
                            if let Ok(e) = arpc::codec::CodecKind::Proto.decode::<Event>(r.value) {
                                out.push((p, r.offset, e));
                            }
                        }
                    }
                }
                out
            }
            #[cfg(feature = "kafka")]
            Sink::Kafka(k) => k.tail(per_partition),
        }
    }
}
