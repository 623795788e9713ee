//! One message on the wire, the same code for both sides: what a content-type says about a
//! body, and a message encoded and framed in the codec a call uses.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, header};

use super::compress::{Compression, CompressionSet};
use super::frame::{HEADER, encode_frame};
use crate::Message;
use crate::codec::{CodecKind, CodecSelector, CodecSet, Encoded, compress_tail};
use crate::status::{self, Status, too_large};

/// The default limit on a decoded message, either direction: 4 MiB, gRPC's customary
/// default. It bounds the memory one call can make a server (or a client) hold.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// What a `content-type` says about a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentType {
    /// gRPC in `codec`. `plain` when the value is bare `application/grpc` (protobuf); an
    /// answer in the same codec then carries the same bare value, as plain gRPC clients
    /// expect.
    Grpc {
        /// The codec of the body.
        codec: CodecKind,
        /// The value was bare `application/grpc`.
        plain: bool,
    },
    /// `application/grpc+…` naming a codec arpc does not have: `UNIMPLEMENTED`, listing the
    /// supported ones.
    UnknownCodec,
    /// Not gRPC at all: the gRPC over HTTP/2 specification has servers answer HTTP 415.
    NotGrpc,
}

impl ContentType {
    /// Reads the `content-type` of `headers` (none is not gRPC).
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        Self::parse(content_type_str(headers))
    }

    /// Reads a `content-type` value.
    pub(crate) fn parse(value: &str) -> Self {
        if let Some(codec) = CodecKind::from_content_type(value) {
            let essence = value.split(';').next().unwrap_or("").trim();
            let plain = essence.eq_ignore_ascii_case("application/grpc");
            return Self::Grpc { codec, plain };
        }
        let grpc = value
            .get(.."application/grpc".len())
            .is_some_and(|p| p.eq_ignore_ascii_case("application/grpc"));
        if grpc {
            Self::UnknownCodec
        } else {
            Self::NotGrpc
        }
    }
}

/// The `content-type` of `headers` as text (empty when absent or not text).
pub(crate) fn content_type_str(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The `content-type` value for a body in `codec`; bare `application/grpc` when `plain`.
pub(crate) fn content_type_value(codec: CodecKind, plain: bool) -> HeaderValue {
    HeaderValue::from_static(if plain {
        "application/grpc"
    } else {
        codec.content_type()
    })
}

/// Encodes `message` and frames it: how it was encoded and the framed bytes. The method's
/// `selector` picks the codec among `codecs` (what the peer reads), and may compress it with one of `compressions` (what the peer reads); `force` compresses it
/// with that compression whatever the selector says (when it comes out smaller). A message
/// over `limit` before compression is `RESOURCE_EXHAUSTED` naming `what` ("request
/// message", "response message").
pub(crate) fn encode_message<M: Message>(
    message: &M,
    selector: &CodecSelector,
    codecs: CodecSet,
    compressions: CompressionSet,
    force: Option<Compression>,
    limit: usize,
    what: &str,
) -> Result<(Encoded, Bytes), Status> {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[0; HEADER]);
    let offered = if force.is_some() {
        CompressionSet::IDENTITY
    } else {
        compressions
    };
    let mut encoded = selector
        .encode_with(message, codecs, offered, &mut buf)
        .map_err(|e| status::encode_failed(&e))?;
    if encoded.size > limit {
        return Err(too_large(what, encoded.size, limit));
    }
    if let Some(c) = force {
        encoded.compression = compress_tail(c, &mut buf, HEADER, 0);
    }
    let compressed = encoded.compression != Compression::Identity;
    Ok((encoded, encode_frame(buf, compressed, limit, what)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_grpc_an_unknown_codec_or_not_grpc() {
        assert_eq!(
            ContentType::parse("application/grpc"),
            ContentType::Grpc {
                codec: CodecKind::Proto,
                plain: true
            }
        );
        assert_eq!(
            ContentType::parse("Application/GRPC; charset=utf-8"),
            ContentType::Grpc {
                codec: CodecKind::Proto,
                plain: true
            }
        );
        assert_eq!(
            ContentType::parse("application/grpc+proto"),
            ContentType::Grpc {
                codec: CodecKind::Proto,
                plain: false
            }
        );
        assert_eq!(
            ContentType::parse("application/grpc+json"),
            ContentType::Grpc {
                codec: CodecKind::Json,
                plain: false
            }
        );
        assert_eq!(
            ContentType::parse("application/grpc+thrift"),
            ContentType::UnknownCodec
        );
        assert_eq!(ContentType::parse("application/json"), ContentType::NotGrpc);
        assert_eq!(ContentType::parse("text/plain"), ContentType::NotGrpc);
        assert_eq!(ContentType::parse(""), ContentType::NotGrpc);
        assert_eq!(ContentType::of(&HeaderMap::new()), ContentType::NotGrpc);
    }

    #[test]
    fn a_message_is_encoded_framed_and_bounded() {
        use crate::codec::CodecPolicy;
        use crate::health::HealthCheckRequest;
        let message = HealthCheckRequest {
            service: "hello".into(),
        };
        let none = CompressionSet::IDENTITY;
        let json = CodecSelector::new(CodecPolicy::Fixed(CodecKind::Json));
        let proto = CodecSelector::new(CodecPolicy::Fixed(CodecKind::Proto));
        let (encoded, framed) =
            encode_message(&message, &json, CodecSet::ALL, none, None, 100, "request").unwrap();
        assert_eq!(encoded.codec, CodecKind::Json);
        let json = br#"{"service":"hello"}"#;
        assert_eq!(
            &framed[..5],
            &[0, 0, 0, 0, u8::try_from(json.len()).unwrap()]
        );
        assert_eq!(&framed[5..], json);
        let selector = CodecSelector::new(CodecPolicy::Fixed(CodecKind::Postcard));
        let (encoded, _) = encode_message(
            &message,
            &selector,
            CodecSet::ALL,
            none,
            None,
            100,
            "response message",
        )
        .unwrap();
        assert_eq!(encoded.codec, CodecKind::Postcard);
        let big = HealthCheckRequest {
            service: "x".repeat(200),
        };
        let err = encode_message(
            &big,
            &proto,
            CodecSet::ALL,
            none,
            None,
            100,
            "response message",
        )
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert!(err.message().contains("response message"), "{err:?}");
        // Compressed, the limit still applies to the message, not to its compressed size.
        let err = encode_message(
            &big,
            &proto,
            CodecSet::ALL,
            CompressionSet::ALL,
            Some(Compression::Gzip),
            100,
            "response message",
        )
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    }

    #[test]
    fn compression_follows_the_method_the_peer_and_the_minimum() {
        use crate::codec::CodecPolicy;
        use crate::health::HealthCheckRequest;
        let big = HealthCheckRequest {
            service: "abc".repeat(1000),
        };
        let small = HealthCheckRequest {
            service: "abc".into(),
        };
        let gzip =
            CodecSelector::for_method(CodecPolicy::default(), Compression::Gzip, 100, "/t.T/M");
        let send = |msg: &HealthCheckRequest, peer: CompressionSet| {
            encode_message(msg, &gzip, CodecSet::ALL, peer, None, 1 << 20, "m").unwrap()
        };
        let (encoded, framed) = send(&big, CompressionSet::ALL);
        assert_eq!(encoded.compression, Compression::Gzip);
        assert_eq!(framed[0], 1);
        assert!(framed.len() < 3000 / 4, "{}", framed.len());
        let plain = Compression::Gzip.decompress(&framed[5..], 1 << 20).unwrap();
        assert_eq!(plain.len(), encoded.size);
        // A peer that does not read gzip, and a message under the minimum, go uncompressed.
        let (encoded, framed) = send(&big, CompressionSet::IDENTITY);
        assert_eq!((encoded.compression, framed[0]), (Compression::Identity, 0));
        let (encoded, framed) = send(&small, CompressionSet::ALL);
        assert_eq!((encoded.compression, framed[0]), (Compression::Identity, 0));
    }
}
