//! The log between publisher and listener: always there, so that publishing and processing
//! are decoupled, replay and seek are real, and order per partition key holds.
//!
//! | file | what |
//! |---|---|
//! | [`segment`] | the embedded log: segment files, CRC-checked records, an index by offset and time, torn-tail repair |
//! | [`group_commit`] | concurrent appends share one `fdatasync` |
//! | `kafka` | the log on a Kafka-protocol broker: topics, the consumer-group member (feature `kafka`); publishing and the outbox are in `publisher::outbox` |

pub mod group_commit;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod segment;

use std::path::PathBuf;

use bytes::Bytes;

use crate::partition::LogPartition;

pub use self::group_commit::GroupCommit;
pub use self::segment::{LogConfig, Recovery, SegmentLog, SegmentReader};

/// One record read from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Where it is.
    pub partition: LogPartition,
    /// Its offset in the partition.
    pub offset: u64,
    /// When it was appended (Unix milliseconds).
    pub timestamp_ms: i64,
    /// The partition key.
    pub key: Bytes,
    /// The encoded event (protobuf).
    pub value: Bytes,
}

/// What can go wrong with a log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A file could not be read or written.
    #[error("log file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Stored data failed its checks where nothing may be cut (below the durable end).
    #[error("log partition {partition} is corrupt at offset {offset}: {reason}")]
    Corrupt {
        /// The partition.
        partition: LogPartition,
        /// The offset expected next.
        offset: u64,
        /// What failed.
        reason: String,
    },
    /// The log's configuration cannot be used.
    #[error("log configuration: {0}")]
    Config(String),
    /// No such partition.
    #[error("log partition {0} does not exist")]
    UnknownPartition(LogPartition),
    /// A record is over the size limit.
    #[error("a record of {0} bytes is over the limit of 16 MiB")]
    TooLarge(usize),
    /// An earlier write or sync of this partition failed; it takes no more records until the
    /// log is opened again.
    #[error("log partition {0} failed earlier and takes no more records until reopened")]
    Failed(LogPartition),
    /// The log was closed (or a thread holding it panicked).
    #[error("the log is closed")]
    Closed,
    /// The broker could not take the records (Kafka mode).
    #[error("broker: {0}")]
    Broker(String),
}
