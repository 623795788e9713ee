//! [`ResponseBody`]: the body of every response `arpc::Server` sends: a unary message (every
//! arpc method) or a stream (the server-reflection service, which is tonic's).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::Status;
use crate::wire::UnaryBody;

/// A unary message, or a stream of them.
///
/// An enum rather than a boxed body so that the unary path, which is every call but reflection,
/// allocates nothing for its body.
#[derive(Debug)]
pub enum ResponseBody {
    /// One message (or none) and trailers.
    Unary(UnaryBody),
    /// A streamed body.
    Stream(tonic::body::Body),
}

impl From<UnaryBody> for ResponseBody {
    fn from(body: UnaryBody) -> Self {
        Self::Unary(body)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        // Both variants are `Unpin` (tonic's body boxes its inner body).
        match self.get_mut() {
            Self::Unary(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(|never| match never {}))),
            Self::Stream(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Unary(body) => body.is_end_stream(),
            Self::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Unary(body) => body.size_hint(),
            Self::Stream(body) => body.size_hint(),
        }
    }
}
