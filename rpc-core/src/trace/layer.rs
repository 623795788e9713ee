//! [`TraceLayer`]: the server's span per call.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};
use tracing::field::{Empty, display};

use super::TraceContext;
use super::future::ResponseFuture;
use crate::server::{PeerAddr, ResponseBody};
use crate::wire::ContentType;

/// Opens the span `rpc.server` around each call and gives the call its [`TraceContext`]
/// (continuing the caller's `traceparent`, if any). Every arpc server runs one outermost;
/// use the layer to get the same spans in front of a generated server mounted elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> TraceService<S> {
        TraceService::new(inner)
    }
}

/// The service [`TraceLayer`] makes.
#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

impl<S> TraceService<S> {
    /// Traces the calls of `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B> Service<Request<B>> for TraceService<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody>>,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let parent = TraceContext::from_headers(request.headers());
        let path = request.uri().path();
        let (service, method) = crate::wire::split_path(path).unwrap_or(("", path));
        let span = tracing::info_span!(
            "rpc.server",
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            peer = Empty,
            trace_id = Empty,
            span_id = Empty,
            parent_span_id = Empty,
            request_codec = Empty,
            response_codec = Empty,
            request_compression = Empty,
            response_compression = Empty,
            code = Empty,
            request_bytes = Empty,
            response_bytes = Empty,
        );
        let context = TraceContext::for_span(&span, parent);
        if !span.is_disabled() {
            if let Some(peer) = request.extensions().get::<PeerAddr>() {
                span.record("peer", display(peer.0));
            }
            if let ContentType::Grpc { codec, .. } = ContentType::of(request.headers()) {
                span.record("request_codec", codec.name());
            }
        }
        if let Some(context) = context {
            request.extensions_mut().insert(context);
        }
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture::new(inner, span)
    }
}
