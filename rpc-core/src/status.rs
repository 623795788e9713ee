//! The wire status of a call: tonic's [`Status`] and [`Code`], re-exported, plus the mapping
//! from arpc's own errors to the codes the gRPC specification prescribes.
//!
//! | situation | code |
//! |---|---|
//! | a message over the size limit (either direction) | `RESOURCE_EXHAUSTED` |
//! | the deadline passed | `DEADLINE_EXCEEDED` |
//! | a payload that does not decode | `INVALID_ARGUMENT` (request) / `INTERNAL` (response), naming codec and type |
//! | an `application/grpc+…` content-type naming a codec arpc does not have | `UNIMPLEMENTED`, listing the supported ones |
//! | a content-type that is not gRPC at all | HTTP 415 (no gRPC status), as the gRPC over HTTP/2 specification says |
//! | a user's layer failed | its `Status`; tower's timeout `DEADLINE_EXCEEDED`; tower's load shedding `RESOURCE_EXHAUSTED`; else `UNKNOWN` |
//! | an unknown service or method | `UNIMPLEMENTED` |
//! | a handler panic | `INTERNAL` (the server keeps serving) |
//! | the blocking pool's queue is full | `RESOURCE_EXHAUSTED` |

pub use tonic::{Code, Status};

use crate::codec::{CodecKind, DecodeError, EncodeError};

/// `RESOURCE_EXHAUSTED` for a message of `len` bytes over `limit`.
pub(crate) fn too_large(what: &str, len: usize, limit: usize) -> Status {
    Status::resource_exhausted(format!(
        "{what} of {len} bytes is larger than the limit of {limit} bytes"
    ))
}

/// A request that did not decode: the client sent something wrong.
pub(crate) fn bad_request(e: &DecodeError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// A response that did not decode: the server (or the schema pairing) is wrong.
pub(crate) fn bad_response(e: &DecodeError) -> Status {
    Status::internal(e.to_string())
}

/// A message that did not encode.
pub(crate) fn encode_failed(e: &EncodeError) -> Status {
    Status::internal(e.to_string())
}

/// The content-type names no codec arpc has.
pub(crate) fn unsupported_content_type(content_type: &str) -> Status {
    let supported: Vec<_> = std::iter::once("application/grpc")
        .chain(CodecKind::ALL.iter().map(|c| c.content_type()))
        .collect();
    Status::unimplemented(format!(
        "content-type `{content_type}` is not supported; this server accepts {}",
        supported.join(", ")
    ))
}

/// The canonical name of a status code, as gRPC's own metrics label it.
pub fn code_name(code: Code) -> &'static str {
    use crate::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}
