//! [`ResponseBody`]: the body of every response `arpc::Server` sends: a unary message (every
//! arpc method) or a stream (the server-reflection service, which is tonic's). And
//! [`RequestBody`]: the body of every request its router passes on.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

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

/// The status an answer carries so far: in its headers (trailers-only), or in the trailers of
/// a unary body; `None` for a stream (its trailers are not sent yet) or a non-gRPC answer.
pub(crate) fn answered_code(response: &http::Response<ResponseBody>) -> Option<crate::Code> {
    crate::wire::status::code(response.headers()).or_else(|| match response.body() {
        ResponseBody::Unary(body) => body.trailers().and_then(crate::wire::status::code),
        ResponseBody::Stream(_) => None,
    })
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

/// The body of every request `arpc::Server`'s router hands to a service: hyper's connection
/// body as it is (no allocation on the serving path), or any other body, boxed (a test's
/// `Full<Bytes>`, a body a user's layer rewrote).
#[derive(Debug)]
pub enum RequestBody {
    /// A body read from an HTTP/2 connection.
    Incoming(hyper::body::Incoming),
    /// Any other body.
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

/// The error of a boxed body (what tower and hyper use).
pub use crate::BoxError;

impl RequestBody {
    /// Wraps `body`: hyper's `Incoming` as it is, anything else boxed.
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // A `RequestBody` already, or hyper's body: no box. (`Any` on an `Option` moves the
        // value out without knowing its type statically, as axum's `try_downcast` does.)
        let mut slot = Some(body);
        let any = &mut slot as &mut dyn std::any::Any;
        if let Some(done) = any.downcast_mut::<Option<Self>>() {
            if let Some(done) = done.take() {
                return done;
            }
        } else if let Some(incoming) = any.downcast_mut::<Option<hyper::body::Incoming>>()
            && let Some(incoming) = incoming.take()
        {
            return Self::Incoming(incoming);
        }
        match slot {
            Some(body) => Self::Boxed(UnsyncBoxBody::new(body.map_err(Into::into))),
            None => Self::Boxed(UnsyncBoxBody::new(
                http_body_util::Empty::new().map_err(|never| match never {}),
            )),
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Both variants are `Unpin`.
        match self.get_mut() {
            Self::Incoming(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Self::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Incoming(body) => body.is_end_stream(),
            Self::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Incoming(body) => body.size_hint(),
            Self::Boxed(body) => body.size_hint(),
        }
    }
}
