//! The hub's services as traits: this file is the IDL. `proto/datahub.v1.proto` is rendered
//! from it (and guarded by `tests/proto_golden.rs`) for teams that publish from other
//! languages.

use crate::admin::messages::{
    AddShard, Concurrency, EventId, HotPartitions, HotRequest, Job, JobId, Lineage, ListenerStates,
    ListenerTarget, MoveJob, MoveRequest, PartitionMap, ReplayRequest, SeekRequest,
};
use crate::model::{
    DisplayScreen, Empty, GetRequest, PublishRequest, PublishResponse, Records, ScreenRequest,
};

/// Where teams send their changes.
#[arpc::service(package = "datahub.v1")]
pub trait Publisher {
    /// Takes a batch of events and answers one result per event, in order: a bad event is
    /// answered `Invalid` and never fails the rest. A write: runs on the server's bounded
    /// blocking pool (validation, the log append and its group-committed `fdatasync`, or the
    /// Kafka produce). Safe to retry with the same event ids (the retry is answered
    /// `Duplicate`). Small batches travel as postcard to callers that accept it, large ones as
    /// protobuf; any gRPC client can send protobuf.
    #[arpc(codec(small = "postcard", large = "proto", threshold = 16384))]
    fn publish(&self, request: PublishRequest) -> Result<PublishResponse, arpc::Status>;
}

/// Where screens are read: the hub's read path. Reads are `async fn`: they never block a
/// thread, and never wait for the blocking pool that writes use.
///
/// Both methods answer in the codec each caller does best with (`Auto`): a Rust caller that
/// accepts postcard gets postcard, grpcurl and grpcio get protobuf, a JSON caller gets JSON.
#[arpc::service(package = "datahub.query.v1")]
pub trait Query {
    /// One display screen: a member (profile, points, history, benefits) and a seller (shop,
    /// items), from at most two shard reads, cached. With `min_version`, waits (up to
    /// `max_wait_ms`) until the screen shows that key at that version: read-your-writes after
    /// a publish answered with `Ack::Applied`; `DEADLINE_EXCEEDED` if it does not in time.
    #[arpc(codec = "auto")]
    async fn screen(&self, request: ScreenRequest) -> Result<DisplayScreen, arpc::Status>;

    /// Raw records by key, in batches (up to 1,000 keys; one shard read per logical
    /// partition asked for), for debugging and for other teams' services. Never cached.
    #[arpc(codec = "auto")]
    async fn get(&self, request: GetRequest) -> Result<Records, arpc::Status>;
}

/// The admin plane: the listeners, the partition map and moves, over every hub process (the
/// state lives in the directory). Writes are `fn` (the blocking pool), reads `async fn`.
/// `datahub admin …` is a command-line client of it.
#[arpc::service(package = "datahub.admin.v1")]
pub trait Admin {
    /// Every listener's partitions (lag, paused and why, backpressure) and groups
    /// (concurrency), and the pauses in force.
    async fn listeners(&self, request: Empty) -> Result<ListenerStates, arpc::Status>;
    /// Pauses a group or one of its partitions, with a reason. Persisted in the directory:
    /// whichever listener owns the partition applies it, and it survives that listener's
    /// restart and a rebalance.
    fn pause(&self, request: ListenerTarget) -> Result<ListenerStates, arpc::Status>;
    /// Lifts a pause (a group's resume lifts its partitions' pauses too).
    fn resume(&self, request: ListenerTarget) -> Result<ListenerStates, arpc::Status>;
    /// Sets how many of a group's batches each listener writes at once, without a restart.
    fn set_concurrency(&self, request: Concurrency) -> Result<ListenerStates, arpc::Status>;
    /// Moves a group's or a partition's position (to the beginning, the end, an offset or a
    /// time); the owners drain, seek and commit the new position.
    fn seek(&self, request: SeekRequest) -> Result<Job, arpc::Status>;
    /// Re-applies a domain's events whose keys are in a range, from a time on (idempotent).
    fn replay(&self, request: ReplayRequest) -> Result<Job, arpc::Status>;
    /// A seek's or a replay's progress.
    async fn job(&self, request: JobId) -> Result<Job, arpc::Status>;
    /// The shards and where the logical partitions are.
    async fn partition_map(&self, request: Empty) -> Result<PartitionMap, arpc::Status>;
    /// The hottest partitions by write rate over a window, the skew, and a suggested move.
    async fn hot_partitions(&self, request: HotRequest) -> Result<HotPartitions, arpc::Status>;
    /// Adds a shard (a new SQLite file or PostgreSQL database) to move partitions to.
    fn add_shard(&self, request: AddShard) -> Result<PartitionMap, arpc::Status>;
    /// Moves a logical partition to another shard online (dual-write, backfill, verify,
    /// fenced cutover, cleanup); with `dry_run`, only plans it.
    fn move_partition(&self, request: MoveRequest) -> Result<MoveJob, arpc::Status>;
    /// A move's phase and progress.
    async fn move_status(&self, request: JobId) -> Result<MoveJob, arpc::Status>;
    /// Ends a switched move's grace period now: the source's rows are deleted.
    fn complete_move(&self, request: JobId) -> Result<MoveJob, arpc::Status>;
    /// One event's path: the stages it passed and when, the shard and version it landed
    /// with.
    async fn lineage(&self, request: EventId) -> Result<Lineage, arpc::Status>;
}

/// Internal: how a listener tells the read path's caches in other processes what a
/// committed batch changed (see [`query::remote`](crate::query::remote)). Served by every
/// process that serves `Query`, and registered in ZooKeeper next to it.
#[arpc::service(package = "datahub.cache.v1")]
pub trait Caches {
    /// Drops the cached screen parts of these owners; answers once they are dropped.
    async fn invalidate(
        &self,
        request: crate::query::remote::Owners,
    ) -> Result<Empty, arpc::Status>;
}
