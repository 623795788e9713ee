//! The hub's services as traits: this file is the IDL. `proto/datahub.v1.proto` is rendered
//! from it (and guarded by `tests/proto_golden.rs`) for teams that publish from other
//! languages.

use crate::model::{PublishRequest, PublishResponse};

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
