//! The gRPC length-prefixed message: one byte compression flag, four bytes big-endian length,
//! then the message.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Body;
use http_body_util::BodyExt;

use crate::status::{Status, too_large};

/// The frame header: a compression flag and a four-byte length.
pub(crate) const HEADER: usize = 5;

/// Frames `message` (already encoded after `HEADER` reserved bytes) in place: writes the
/// header into the first five bytes of `buf`. `buf` must start with five placeholder bytes.
/// Over `limit` (or 4 GiB, what the header can say): `RESOURCE_EXHAUSTED` naming `what`.
pub(crate) fn encode_frame(mut buf: BytesMut, limit: usize, what: &str) -> Result<Bytes, Status> {
    let len = buf.len() - HEADER;
    if len > limit {
        return Err(too_large(what, len, limit));
    }
    let len32 = u32::try_from(len).map_err(|_| too_large(what, len, limit))?;
    let mut header = &mut buf[..HEADER];
    header.put_u8(0);
    header.put_u32(len32);
    Ok(buf.freeze())
}

/// Reads a unary body: at most one message, and the trailers if any. Fails with
/// `RESOURCE_EXHAUSTED` as soon as the frame header announces more than `limit` bytes
/// (without reading the rest), with `UNIMPLEMENTED` for compressed messages (arpc negotiates
/// no compression yet), and with `INTERNAL` for a body that ends inside a message or holds
/// more than one.
pub(crate) async fn read_message<B>(
    body: B,
    limit: usize,
    what: &str,
) -> Result<(Option<Bytes>, Option<HeaderMap>), Status>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    let mut expected: Option<usize> = None;
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
            if head[0] != 0 {
                return Err(Status::unimplemented(format!(
                    "the {what} is compressed; arpc accepts uncompressed messages only"
                )));
            }
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
            Ok((Some(all), trailers))
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
        assert_eq!(&got.0.unwrap()[..], b"hello");
        let chunks: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = bytes
            .chunks(2)
            .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        let got = run(read_message(body, 100, "request")).unwrap();
        assert_eq!(&got.0.unwrap()[..], b"hello");
    }

    #[test]
    fn rejects_oversized_truncated_doubled_and_compressed() {
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
        let mut compressed = framed(b"a");
        compressed[0] = 1;
        let err = run(read_message(
            Full::new(Bytes::from(compressed)),
            100,
            "request",
        ))
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
        let (none, _) = run(read_message(Full::new(Bytes::new()), 100, "request")).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn frames_carry_the_length() {
        let mut buf = BytesMut::from(&[0u8; 5][..]);
        buf.extend_from_slice(b"abc");
        let framed = encode_frame(buf, 10, "request message").unwrap();
        assert_eq!(&framed[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
        let mut buf = BytesMut::from(&[0u8; 5][..]);
        buf.extend_from_slice(&[0; 11]);
        assert_eq!(
            encode_frame(buf, 10, "request message").unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
    }
}
