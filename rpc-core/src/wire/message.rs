//! One message on the wire, the same code for both sides: what a content-type says about a
//! body, and a message encoded and framed in the codec a call uses.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, header};

use super::frame::{HEADER, encode_frame};
use crate::Message;
use crate::codec::{CodecKind, CodecSelector, CodecSet};
use crate::status::{self, Status};

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

/// How the codec of an outgoing message is chosen.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Encoding<'a> {
    /// This codec.
    Fixed(CodecKind),
    /// The method's policy chooses among the codecs the peer accepts.
    Policy(&'a CodecSelector, CodecSet),
}

/// Encodes `message` and frames it: the codec used and the framed bytes. A message over
/// `limit` is `RESOURCE_EXHAUSTED` naming `what` ("request message", "response message").
pub(crate) fn encode_message<M: Message>(
    message: &M,
    encoding: Encoding<'_>,
    limit: usize,
    what: &str,
) -> Result<(CodecKind, Bytes), Status> {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[0; HEADER]);
    let codec = match encoding {
        Encoding::Fixed(codec) => codec.encode(message, &mut buf).map(|()| codec),
        Encoding::Policy(selector, accepted) => selector.encode(message, accepted, &mut buf),
    }
    .map_err(|e| status::encode_failed(&e))?;
    Ok((codec, encode_frame(buf, limit, what)?))
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
        let (codec, framed) =
            encode_message(&message, Encoding::Fixed(CodecKind::Json), 100, "request").unwrap();
        assert_eq!(codec, CodecKind::Json);
        let json = br#"{"service":"hello"}"#;
        assert_eq!(
            &framed[..5],
            &[0, 0, 0, 0, u8::try_from(json.len()).unwrap()]
        );
        assert_eq!(&framed[5..], json);
        let selector = CodecSelector::new(CodecPolicy::Fixed(CodecKind::Postcard));
        let (codec, _) = encode_message(
            &message,
            Encoding::Policy(&selector, CodecSet::ALL),
            100,
            "response message",
        )
        .unwrap();
        assert_eq!(codec, CodecKind::Postcard);
        let big = HealthCheckRequest {
            service: "x".repeat(200),
        };
        let err = encode_message(
            &big,
            Encoding::Fixed(CodecKind::Proto),
            100,
            "response message",
        )
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert!(err.message().contains("response message"), "{err:?}");
    }
}
