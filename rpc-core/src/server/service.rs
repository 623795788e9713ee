//! [`ServerService`]: the whole server as one tower service, over requests with any body.
//! It is what each connection serves and what [`ServerBuilder::into_service`] returns: it
//! wraps the request body as a [`RequestBody`], stamps the peer address and the server's
//! message limits, and answers an
//! error of the user's layers as a gRPC status, so the connection always gets a response.
//!
//! [`ServerBuilder::into_service`]: super::ServerBuilder::into_service

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;

use super::body::{BoxError, RequestBody, ResponseBody};
use super::method::{MessageLimits, PeerAddr, error_response};
use crate::codec::CodecKind;
use crate::status::Status;

/// The server as a tower service over `http::Request<B>` for any body `B`.
#[derive(Debug, Clone)]
pub struct ServerService<S> {
    inner: S,
    peer: Option<SocketAddr>,
    limits: MessageLimits,
    /// An error the inner service reported when polled for readiness, answered to the next
    /// call (a connection must get a response, never a dropped service).
    not_ready: Option<Status>,
}

impl<S> ServerService<S> {
    pub(super) fn new(inner: S, limits: MessageLimits) -> Self {
        Self {
            inner,
            peer: None,
            limits,
            not_ready: None,
        }
    }

    /// This service, stamping `peer` on each request as [`PeerAddr`].
    pub(super) fn for_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B> tower::Service<Request<B>> for ServerService<S>
where
    S: tower::Service<Request<RequestBody>, Response = Response<ResponseBody>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.not_ready.is_none()
            && let Err(e) = ready!(self.inner.poll_ready(cx))
        {
            self.not_ready = Some(status_of(e.into()));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Some(status) = self.not_ready.take() {
            return ResponseFuture::Ready {
                response: Some(answer(&status)),
            };
        }
        let mut request = request.map(RequestBody::new);
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(PeerAddr(peer));
        }
        request.extensions_mut().insert(self.limits);
        ResponseFuture::Inner {
            future: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ServerService`].
    #[project = Projected]
    #[derive(Debug)]
    pub enum ResponseFuture<F> {
        /// The inner service's call.
        Inner { #[pin] future: F },
        /// An answer known at once.
        Ready { response: Option<Response<ResponseBody>> },
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResponseBody>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Inner { future } => Poll::Ready(Ok(match ready!(future.poll(cx)) {
                Ok(response) => response,
                Err(e) => answer(&status_of(e.into())),
            })),
            Projected::Ready { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| answer(&Status::internal("polled after completion"))))),
        }
    }
}

/// A trailers-only answer carrying `status`.
fn answer(status: &Status) -> Response<ResponseBody> {
    error_response(status, CodecKind::Proto, true).map(ResponseBody::Unary)
}

/// The gRPC status for an error of a layer: a [`Status`] as it is; tower's timeout
/// `DEADLINE_EXCEEDED`; tower's load shedding `RESOURCE_EXHAUSTED` (overload is refused, as
/// the blocking pool refuses it); anything else `UNKNOWN` with the error's text.
fn status_of(e: BoxError) -> Status {
    let e = match e.downcast::<Status>() {
        Ok(status) => return *status,
        Err(e) => e,
    };
    if e.is::<tower::timeout::error::Elapsed>() {
        return Status::deadline_exceeded(format!("a server layer timed out: {e}"));
    }
    if e.is::<tower::load_shed::error::Overloaded>() {
        return Status::resource_exhausted(format!("the server is overloaded: {e}"));
    }
    Status::unknown(format!("a server layer failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_errors_become_the_statuses_callers_expect() {
        let code = |e: BoxError| status_of(e).code();
        assert_eq!(
            code(Box::new(Status::permission_denied("no"))),
            crate::Code::PermissionDenied
        );
        assert_eq!(
            code(Box::new(tower::timeout::error::Elapsed::new())),
            crate::Code::DeadlineExceeded
        );
        assert_eq!(
            code(Box::new(tower::load_shed::error::Overloaded::new())),
            crate::Code::ResourceExhausted
        );
        assert_eq!(code("something else".into()), crate::Code::Unknown);
    }
}
