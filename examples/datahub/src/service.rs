//! The hub's services as traits: this file is the IDL. `proto/datahub.v1.proto` is rendered
//! from it (and guarded by `tests/proto_golden.rs`) for teams that publish from other
//! languages.

use crate::model::{
    DisplayScreen, GetRequest, PublishRequest, PublishResponse, Records, ScreenRequest,
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
