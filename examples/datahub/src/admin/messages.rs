//! The `Admin` service's messages (package `datahub.admin.v1`): what an operator asks for and
//! sees. Rendered to `proto/datahub.admin.v1.proto` and guarded like the other schemas.

use crate::model::Domain;

/// A domain group (a log, a keyspace).
#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogGroup {
    /// Not set.
    #[default]
    Unspecified,
    /// Members, benefits, points (keyed by member id).
    Member,
    /// Sellers and items (keyed by seller id).
    Seller,
}

/// A group, or one log partition of it.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenerTarget {
    /// The group.
    pub group: LogGroup,
    /// One partition of it (all of them when absent).
    pub partition: Option<u32>,
    /// Why (for a pause; shown in `listeners` and the metrics).
    pub reason: String,
}

/// One log partition as its listener last reported it.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The listener process that owns it.
    pub listener: String,
    /// The group.
    pub group: LogGroup,
    /// The partition.
    pub partition: u32,
    /// The next offset to process.
    pub committed: u64,
    /// The log's end.
    pub end: u64,
    /// `end - committed`.
    pub lag: u64,
    /// Paused through the admin, and why.
    pub paused: Option<String>,
    /// Fetching held back because the pipeline is full.
    pub backpressure: bool,
    /// Retrying a shard or an offset commit, and why.
    pub stalled: Option<String>,
}

/// A group's concurrency in one listener process.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The listener process.
    pub listener: String,
    /// The group.
    pub group: LogGroup,
    /// Batches written at once.
    pub concurrency: u32,
    /// Batches being written now.
    pub in_flight: u32,
}

/// A pause as the directory holds it (applied by whichever listener owns the partition).
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseInfo {
    /// `member` or `member/3`.
    pub target: String,
    /// Why.
    pub reason: String,
    /// Since (Unix ms).
    pub since_ms: i64,
}

/// The listeners' states.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenerStates {
    /// Every partition, by group and number.
    pub partitions: Vec<PartitionInfo>,
    /// Every listener's groups.
    pub groups: Vec<GroupInfo>,
    /// The pauses in force.
    pub pauses: Vec<PauseInfo>,
}

/// A group's concurrency to set.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Concurrency {
    /// The group.
    pub group: LogGroup,
    /// Batches written at once per listener (1 to the partition count).
    pub concurrency: u32,
}

/// Where a seek goes.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SeekPosition {
    /// The oldest record.
    #[default]
    Beginning,
    /// The end (skip what is there).
    End,
    /// An offset.
    Offset(u64),
    /// The first record at or after a time (Unix ms).
    TimestampMs(i64),
}

/// A seek.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeekRequest {
    /// Which partitions.
    pub target: ListenerTarget,
    /// Where to.
    pub to: SeekPosition,
}

/// A replay: re-apply a domain's events whose keys are in a range, from a time on.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayRequest {
    /// The group whose log is read.
    pub group: LogGroup,
    /// Only this domain (`Unspecified`: all of the group's).
    pub domain: Domain,
    /// Keys from (inclusive; empty: from the first).
    pub key_from: String,
    /// Keys to (exclusive; empty: to the last).
    pub key_to: String,
    /// Events logged at or after (Unix ms; 0: all).
    pub since_ms: i64,
}

/// A background job (a seek or a replay) and how far it got.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Job {
    /// Its id.
    pub id: u64,
    /// `seek` or `replay`.
    pub kind: String,
    /// Finished everywhere.
    pub done: bool,
    /// Events that matched (replay).
    pub matched: u64,
    /// Rows written again that had been lost or were behind (replay).
    pub reapplied: u64,
    /// Rows already current (replay).
    pub unchanged: u64,
}

/// A shard.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    /// Its id.
    pub id: u32,
    /// Where it is (`sqlite:…`, `postgres://…`; passwords are not shown).
    pub url: String,
    /// Logical partitions it holds.
    pub partitions: u32,
}

/// Where one logical partition is.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementInfo {
    /// The group.
    pub group: LogGroup,
    /// The logical partition (0 to 1023).
    pub lp: u32,
    /// The shard that answers it.
    pub shard: u32,
    /// Its epoch (bumped at every move).
    pub epoch: u64,
    /// `stable`, `dual_write → N` or `cutover → N`.
    pub state: String,
}

/// The partition map: shards, and every partition not at its initial place.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionMap {
    /// The directory's version.
    pub version: u64,
    /// Shards the first 1024 partitions per group were spread over, by `lp % n`.
    pub initial_shards: u32,
    /// Every shard.
    pub shards: Vec<ShardInfo>,
    /// Partitions placed elsewhere than `lp % initial_shards` (moved, or moving).
    pub moved: Vec<PlacementInfo>,
}

/// Which window hot partitions are measured over.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HotRequest {
    /// Seconds (0: 10, at most 60).
    pub window_s: u32,
    /// How many to list (0: 10).
    pub top: u32,
}

/// A hot partition.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct HotEntry {
    /// The group.
    pub group: LogGroup,
    /// The logical partition.
    pub lp: u32,
    /// Rows written per second.
    pub writes_per_s: f64,
    /// Share of all writes (0 to 1).
    pub share: f64,
}

/// A suggested move.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct MoveSuggestion {
    /// The group.
    pub group: LogGroup,
    /// The partition to move.
    pub lp: u32,
    /// From this shard.
    pub from: u32,
    /// To this shard (absent: to a new shard, added first).
    pub to: Option<u32>,
    /// The most loaded shard's rows/s now.
    pub max_load_now: f64,
    /// And after the move.
    pub max_load_after: f64,
}

/// Hot partitions, skew and a suggested plan.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HotPartitions {
    /// The window the rates cover (seconds).
    pub window_s: f64,
    /// The hottest first.
    pub entries: Vec<HotEntry>,
    /// Rows/s per shard.
    pub shard_load: Vec<f64>,
    /// The hottest partition's rate over the mean (1: no skew).
    pub skew: f64,
    /// What to move, if anything helps.
    pub suggestion: Option<MoveSuggestion>,
}

/// A shard to add.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddShard {
    /// `sqlite:PATH` or `postgres://…`.
    pub url: String,
}

/// A partition to move.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MoveRequest {
    /// The group.
    pub group: LogGroup,
    /// The logical partition.
    pub lp: u32,
    /// The target shard.
    pub to_shard: u32,
    /// Only plan: count the rows and estimate the copy.
    pub dry_run: bool,
    /// Backfill budget in rows per second (0: 20,000).
    pub rows_per_s: u32,
    /// How long the source keeps the rows after the switch (ms; 0: 10 s).
    pub grace_ms: u64,
}

/// A move, or a dry run's plan.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MoveJob {
    /// Its id (0 for a dry run).
    pub id: u64,
    /// The group.
    pub group: LogGroup,
    /// The logical partition.
    pub lp: u32,
    /// From this shard.
    pub from: u32,
    /// To this shard.
    pub to: u32,
    /// `planned` (dry run), `dual_write`, `backfill`, `verify`, `cutover`, `cleanup`,
    /// `done`, `rolled_back`.
    pub phase: String,
    /// Rows to copy (dry run) or copied.
    pub rows: u64,
    /// Rows the last verification compared.
    pub verified: u64,
    /// The write pause of the cutover (ms), once switched.
    pub pause_ms: Option<f64>,
    /// The estimated copy time (dry run, seconds).
    pub estimated_copy_s: f64,
    /// Why it rolled back, if it did.
    pub error: Option<String>,
}

/// A job's id.
#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobId {
    /// The id.
    pub id: u64,
}

/// An event's id.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventId {
    /// The id it was published with.
    pub event_id: String,
}

/// When an event passed a stage.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageTime {
    /// `logged`, `fetched`, `written`, `committed`.
    pub stage: String,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// The path of one event through the hub, as the listener that applied it recorded it (the
/// last 100,000 events per listener process).
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lineage {
    /// The event.
    pub event_id: String,
    /// Known to this hub's listener (false: not seen, or too long ago).
    pub found: bool,
    /// The log partition's group.
    pub group: LogGroup,
    /// The log partition.
    pub log_partition: u32,
    /// Its offset.
    pub offset: u64,
    /// The stages, in order.
    pub stages: Vec<StageTime>,
    /// The shard its row landed on.
    pub shard: u32,
    /// The row's version after it (0 when it changed nothing: a duplicate or stale).
    pub version: u64,
    /// `applied`, `unchanged`, `stale`, `duplicate`.
    pub outcome: String,
    /// The trace id it was published with, if any.
    pub trace_id: Option<String>,
}
