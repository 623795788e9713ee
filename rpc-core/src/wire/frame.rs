//! The gRPC length-prefixed message: one byte compression flag, four bytes big-endian length,
//! then the message.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Body;
use http_body_util::BodyExt;

use super::compress::{ACCEPT_ENCODING_HEADER, Compression, CompressionSet, ENCODING_HEADER};
use crate::status::{Status, too_large};

/// The frame header: a compression flag and a four-byte length.
pub(crate) const HEADER: usize = 5;

/// Frames `message` (already encoded, compressed or not, after `HEADER` reserved bytes) in
/// place: writes the flag and the length into the first five bytes of `buf`. Over 4 GiB
/// (what the header can say): `RESOURCE_EXHAUSTED` naming `what`.
pub(crate) fn encode_frame(
    mut buf: BytesMut,
    compressed: bool,
    limit: usize,
    what: &str,
) -> Result<Bytes, Status> {
    let len = buf.len() - HEADER;
    let len32 = u32::try_from(len).map_err(|_| too_large(what, len, limit))?;
    let mut header = &mut buf[..HEADER];
    header.put_u8(u8::from(compressed));
    header.put_u32(len32);
    Ok(buf.freeze())
}

/// One message as read from a body: its bytes, compressed when the flag said so.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) bytes: Bytes,
    pub(crate) compressed: bool,
}

impl Frame {
    /// The message's bytes, decompressed with `encoding` (the `grpc-encoding` of its
    /// headers) when the flag is set, bounded by `limit`: a flag without an encoding is
    /// `INTERNAL` (as gRPC's compression spec says); a message decompressing past `limit` is
    /// `RESOURCE_EXHAUSTED`; corrupt data is `INVALID_ARGUMENT` in a request, `INTERNAL` in a
    /// response.
    pub(crate) fn into_message(
        self,
        encoding: Option<Compression>,
        limit: usize,
        what: &str,
        request: bool,
    ) -> Result<Bytes, Status> {
        if !self.compressed {
            return Ok(self.bytes);
        }
        match encoding {
            None | Some(Compression::Identity) => Err(Status::internal(format!(
                "the {what} has the compressed flag set but no grpc-encoding names a compression"
            ))),
            Some(c) => c
                .decompress(&self.bytes, limit)
                .map(Bytes::from)
                .map_err(|e| e.into_status(&format!("the {what} ({c})"), request)),
        }
    }
}

/// The `grpc-encoding` of `headers`: `None` when absent or `identity`; `Err` with the name
/// when arpc does not have it.
pub(crate) fn encoding_of(headers: &HeaderMap) -> Result<Option<Compression>, String> {
    let Some(value) = headers.get(ENCODING_HEADER) else {
        return Ok(None);
    };
    let name = value.to_str().unwrap_or("(not ASCII)");
    match Compression::from_name(name) {
        Some(Compression::Identity) => Ok(None),
        Some(c) => Ok(Some(c)),
        None => Err(name.to_owned()),
    }
}

/// The compressions `headers` say the peer reads (`grpc-accept-encoding`): `identity` only
/// when the header is absent, as gRPC says (nothing announced, nothing compressed).
pub(crate) fn accepted_encodings(headers: &HeaderMap) -> CompressionSet {
    headers
        .get(ACCEPT_ENCODING_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or(CompressionSet::IDENTITY, Compression::parse_accept)
}

/// The `grpc-accept-encoding` value arpc sends: every compression it has.
pub(crate) fn accept_encoding_value() -> http::HeaderValue {
    http::HeaderValue::from_static("identity,gzip,deflate,zstd")
}

/// Reads a unary body: at most one message, and the trailers if any. Fails with
/// `RESOURCE_EXHAUSTED` as soon as the frame header announces more than `limit` bytes
/// (without reading the rest), with `INTERNAL` for a flag other than 0 or 1, for a body
/// that ends inside a message or holds more than one.
pub(crate) async fn read_message<B>(
    body: B,
    limit: usize,
    what: &str,
) -> Result<(Option<Frame>, Option<HeaderMap>), Status>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    let mut expected: Option<usize> = None;
    let mut compressed = false;
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Status::internal(format!("reading the {what}: {e}")))?;
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                trailers = frame.into_trailers().ok();
                continue;
            }
        };
        if data.is_empty() {
            continue;
        }
        // Keep a single chunk as it is (no copy); join only when the message spans chunks.
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            None => joined.extend_from_slice(&data),
            Some(prev) => {
                joined.reserve(prev.len() + data.len());
                joined.extend_from_slice(&prev);
                joined.extend_from_slice(&data);
            }
        }
        let have = first.as_ref().map_or(joined.len(), Bytes::len);
        if expected.is_none() && have >= HEADER {
            let head = first.as_deref().unwrap_or(&joined[..]);
            compressed = match head[0] {
                0 => false,
                1 => true,
                flag => {
                    return Err(Status::internal(format!(
                        "the {what}'s frame has compression flag {flag}; gRPC knows 0 and 1"
                    )));
                }
            };
            let len = usize::try_from(u32::from_be_bytes([head[1], head[2], head[3], head[4]]))
                .unwrap_or(usize::MAX);
            if len > limit {
                return Err(too_large(what, len, limit));
            }
            expected = Some(len);
        }
        if let Some(len) = expected
            && have > HEADER + len
        {
            return Err(Status::internal(format!(
                "the {what} holds more than one message; unary calls carry exactly one"
            )));
        }
    }
    let mut all = match first {
        Some(b) => b,
        None => joined.freeze(),
    };
    match expected {
        Some(len) if all.len() == HEADER + len => {
            all.advance(HEADER);
            Ok((
                Some(Frame {
                    bytes: all,
                    compressed,
                }),
                trailers,
            ))
        }
        None if all.is_empty() => Ok((None, trailers)),
        _ => Err(Status::internal(format!(
            "the {what} ended inside a message ({} bytes)",
            all.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    fn framed(msg: &[u8]) -> Vec<u8> {
        let mut v = vec![0];
        v.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
        v.extend_from_slice(msg);
        v
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn reads_one_message_in_one_chunk_or_many() {
        let bytes = framed(b"hello");
        let got = run(read_message(
            Full::new(Bytes::from(bytes.clone())),
            100,
            "request",
        ))
        .unwrap();
        assert_eq!(&got.0.unwrap().bytes[..], b"hello");
        let chunks: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = bytes
            .chunks(2)
            .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        let got = run(read_message(body, 100, "request")).unwrap();
        assert_eq!(&got.0.unwrap().bytes[..], b"hello");
    }

    #[test]
    fn rejects_oversized_truncated_doubled_and_bad_flags() {
        let big = framed(&[7; 50]);
        let err = run(read_message(Full::new(Bytes::from(big)), 10, "request")).unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        let mut short = framed(b"hello");
        short.pop();
        let err = run(read_message(Full::new(Bytes::from(short)), 100, "request")).unwrap_err();
        assert_eq!(err.code(), tonic::Code::Internal);
        let mut two = framed(b"a");
        two.extend(framed(b"b"));
        let err = run(read_message(Full::new(Bytes::from(two)), 100, "request")).unwrap_err();
        assert_eq!(err.code(), tonic::Code::Internal);
        let mut flag2 = framed(b"a");
        flag2[0] = 2;
        let err = run(read_message(Full::new(Bytes::from(flag2)), 100, "request")).unwrap_err();
        assert_eq!(err.code(), tonic::Code::Internal);
        let (none, _) = run(read_message(Full::new(Bytes::new()), 100, "request")).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn frames_carry_the_flag_and_the_length() {
        let mut buf = BytesMut::from(&[0u8; 5][..]);
        buf.extend_from_slice(b"abc");
        let framed = encode_frame(buf.clone(), false, 10, "request message").unwrap();
        assert_eq!(&framed[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
        let framed = encode_frame(buf, true, 10, "request message").unwrap();
        assert_eq!(&framed[..5], &[1, 0, 0, 0, 3]);
    }

    #[test]
    fn compressed_frames_need_an_encoding_and_stay_bounded() {
        let plain = vec![b'a'; 10_000];
        let gz = Compression::Gzip.compress(&plain);
        let mut bytes = vec![1];
        bytes.extend_from_slice(&u32::try_from(gz.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(&gz);
        let (frame, _) = run(read_message(
            Full::new(Bytes::from(bytes.clone())),
            20_000,
            "request",
        ))
        .unwrap();
        let frame = frame.unwrap();
        assert!(frame.compressed);
        let msg = frame
            .into_message(Some(Compression::Gzip), 20_000, "request", true)
            .unwrap();
        assert_eq!(msg.len(), 10_000);
        let (frame, _) = run(read_message(
            Full::new(Bytes::from(bytes.clone())),
            20_000,
            "request",
        ))
        .unwrap();
        let err = frame
            .unwrap()
            .into_message(None, 20_000, "request", true)
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Internal);
        let (frame, _) = run(read_message(
            Full::new(Bytes::from(bytes)),
            20_000,
            "request",
        ))
        .unwrap();
        let err = frame
            .unwrap()
            .into_message(Some(Compression::Gzip), 9_999, "request", true)
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    }

    #[test]
    fn encoding_headers_are_read() {
        let mut h = HeaderMap::new();
        assert_eq!(encoding_of(&h), Ok(None));
        assert_eq!(accepted_encodings(&h), CompressionSet::IDENTITY);
        h.insert(ENCODING_HEADER, http::HeaderValue::from_static("identity"));
        assert_eq!(encoding_of(&h), Ok(None));
        h.insert(ENCODING_HEADER, http::HeaderValue::from_static("zstd"));
        assert_eq!(encoding_of(&h), Ok(Some(Compression::Zstd)));
        h.insert(ENCODING_HEADER, http::HeaderValue::from_static("br"));
        assert_eq!(encoding_of(&h), Err("br".to_owned()));
        h.insert(
            ACCEPT_ENCODING_HEADER,
            http::HeaderValue::from_static("gzip"),
        );
        assert!(accepted_encodings(&h).contains(Compression::Gzip));
        assert!(!accepted_encodings(&h).contains(Compression::Zstd));
    }
}
