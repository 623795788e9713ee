//! gRPC over HTTP/2, the parts arpc handles itself for unary calls: the 5-byte message frame,
//! the `grpc-timeout` header, codec negotiation headers, and a body of one message plus
//! trailers. HTTP/2 itself is hyper's (server) and h2's (client, `client/connection.rs`). Client and
//! server share all of it: framing (`frame`), content-type and encoding (`message`),
//! `grpc-status` (`status`), `grpc-timeout` (`timeout`) and the accept header (here).
//!
//! arpc frames unary messages itself rather than through `tonic::server::Grpc` because tonic
//! hard-wires `content-type: application/grpc` in both directions and reports oversized
//! messages as `OUT_OF_RANGE`, where the gRPC specification says `RESOURCE_EXHAUSTED`; arpc
//! negotiates the codec per call through the content-type.

mod body;
pub mod compress;
mod frame;
mod message;
pub(crate) mod status;
mod timeout;

pub use self::body::UnaryBody;
pub(crate) use self::frame::{
    Frame, accept_encoding_value, accepted_encodings, encoding_of, read_message,
};
/// The bytes of the frame header before each message (flag and length).
pub(crate) const FRAME_HEADER_BYTES: usize = frame::HEADER;
pub use self::message::DEFAULT_MAX_MESSAGE_BYTES;
pub(crate) use self::message::{ContentType, content_type_str, content_type_value, encode_message};
pub(crate) use self::timeout::{format_timeout, parse_timeout};

/// The service and method of a gRPC path (`/pkg.Service/Method` → `pkg.Service`, `Method`).
pub(crate) fn split_path(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix('/').and_then(|p| p.split_once('/'))
}

/// Request header listing the codecs the client accepts for the response, comma-separated
/// names (`proto,json,msgpack,postcard`). Without it the response uses the request's codec.
pub const ACCEPT_HEADER: &str = "arpc-accept";

/// The `grpc-timeout` header.
pub(crate) const TIMEOUT_HEADER: &str = "grpc-timeout";

use crate::codec::{CodecKind, CodecSet};

/// Parses an [`ACCEPT_HEADER`] value; unknown names are ignored (a newer peer may know more).
pub(crate) fn parse_accept(value: &str) -> CodecSet {
    value
        .split(',')
        .filter_map(|name| name.trim().parse::<CodecKind>().ok())
        .collect()
}

/// Renders a codec set as an [`ACCEPT_HEADER`] value.
pub(crate) fn format_accept(set: CodecSet) -> String {
    set.iter()
        .map(CodecKind::name)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_round_trips_and_skips_unknown_names() {
        let set: CodecSet = [CodecKind::Json, CodecKind::Postcard].into_iter().collect();
        assert_eq!(format_accept(set), "json,postcard");
        assert_eq!(parse_accept("json, postcard,thrift"), set);
        assert!(parse_accept("").is_empty());
    }
}
