//! The listener's processing graph, per log partition: a static chain of stages on tokio,
//! each a task, joined by bounded channels (a full channel stops the stage before it, and
//! in the end the fetch: that is the backpressure).
//!
//! ```text
//! fetch ─► decode+validate ─► dedupe ─► enrich ─► project ─► route ─► write ─► commit
//!            │ invalid → dead letters          (rows)   (shard, epoch)  │ one tx per shard
//!            └──────────────────────────────────────────────────────────┴─► offsets, acks
//! ```
//!
//! A [`Batch`] travels the whole chain and each stage fills in its part: the stages are
//! functions in [`stages`] (pure but for the dedupe window), [`mod@write`] (shards, fences, the
//! move's dual-write and cutover) and [`commit`] (offsets, dead letters, acknowledgements).

pub mod commit;
pub mod stages;
pub mod write;

use std::time::Instant;

use crate::meta::DeadLetter;
use crate::model::Event;
use crate::partition::LogPartition;
use crate::store::{Row, RowWrite, WriteOutcome};

/// What a batch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Records read at the partition's position: their offsets are committed.
    Live,
    /// Records re-read for replay `id`: progress goes to the replay, not the offsets.
    Replay(u64),
    /// No records: a batch boundary for control work (a pending dual-write or cutover) while
    /// the partition is idle or paused.
    Tick,
}

/// One decoded, valid event of a batch.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its offset.
    pub offset: u64,
    /// When it was logged (Unix ms).
    pub logged_ms: i64,
    /// The event.
    pub event: Event,
    /// Dropped by the dedupe stage (a second copy of an `event_id` seen recently).
    pub duplicate: bool,
    /// Facts joined by the enrich stage.
    pub enrichment: Enrichment,
}

/// Reference data joined to an event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enrichment {
    /// Perks of a member's grade.
    pub perks: Vec<String>,
    /// Points per 1,000 spent at that grade.
    pub point_rate_permille: u32,
    /// An item's price after discount.
    pub final_price: Option<u64>,
}

/// A row projected from an event.
#[derive(Debug, Clone)]
pub struct Projected {
    /// The row.
    pub row: Row,
    /// Index of its event in [`Batch::items`].
    pub item: usize,
    /// The row that answers for the event (its own domain and key); other rows are derived
    /// (e.g. a point history entry).
    pub primary: bool,
}

/// Rows bound for one shard.
#[derive(Debug, Clone)]
pub struct ShardWrite {
    /// The shard.
    pub shard: u32,
    /// The rows, with the epoch they were routed by.
    pub rows: Vec<RowWrite>,
    /// For each row, its index in [`Batch::rows`].
    pub sources: Vec<usize>,
    /// Whether this is the authoritative copy (the placement's shard) or the dual-write copy.
    pub authoritative: bool,
}

/// A batch on its way through the stages.
#[derive(Debug)]
pub struct Batch {
    /// The partition.
    pub partition: LogPartition,
    /// What it is for.
    pub kind: BatchKind,
    /// The first offset read.
    pub first_offset: u64,
    /// The offset after the last record read (what is committed when done).
    pub end_offset: u64,
    /// When it was fetched.
    pub fetched_at: Instant,
    /// The valid events.
    pub items: Vec<Item>,
    /// Records refused by decode+validate.
    pub dead: Vec<DeadLetter>,
    /// The projected rows.
    pub rows: Vec<Projected>,
    /// The directory version the route stage used.
    pub routed_version: u64,
    /// The per-shard writes.
    pub writes: Vec<ShardWrite>,
    /// What the authoritative write did to each row (same order as `rows`).
    pub outcomes: Vec<Option<WriteOutcome>>,
    /// The longest the write stage had to wait for a cutover before writing (ms).
    pub pause_ms: Option<f64>,
    /// The records as read (consumed by decode+validate).
    pub raw: Vec<crate::log::LogRecord>,
    /// Forget the dedupe window before this batch (sent after a seek).
    pub reset_dedupe: bool,
    /// For replay batches: which events to re-apply.
    pub replay: Option<std::sync::Arc<crate::directory::Replay>>,
}

impl Batch {
    /// An empty batch of `kind` over `[first, end)`.
    pub fn new(partition: LogPartition, kind: BatchKind, first: u64, end: u64) -> Self {
        Self {
            partition,
            kind,
            first_offset: first,
            end_offset: end,
            fetched_at: Instant::now(),
            items: Vec::new(),
            dead: Vec::new(),
            rows: Vec::new(),
            routed_version: 0,
            writes: Vec::new(),
            outcomes: Vec::new(),
            pause_ms: None,
            raw: Vec::new(),
            reset_dedupe: false,
            replay: None,
        }
    }
}
