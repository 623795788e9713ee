//! [`MetricsLayer`] and the service it makes.

use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::{Layer, Service};

use super::Metrics;
use super::future::{InFlight, ResponseFuture};
use crate::server::ResponseBody;
use crate::wire::ContentType;

/// Records every call of the service it wraps in a [`Metrics`] registry.
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Metrics,
}

impl MetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> MetricsService<S> {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`MetricsLayer`] makes.
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B> Service<Request<B>> for MetricsService<S>
where
    S: Service<Request<B>, Response = Response<ResponseBody>>,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let request_codec = match ContentType::of(request.headers()) {
            ContentType::Grpc { codec, .. } => codec.name(),
            ContentType::UnknownCodec | ContentType::NotGrpc => "unknown",
        };
        let in_flight = self
            .metrics
            .known_method(request.uri().path())
            .map(|method| InFlight::start(&self.metrics, method));
        ResponseFuture::new(
            self.inner.call(request),
            self.metrics.clone(),
            request_codec,
            Instant::now(),
            in_flight,
        )
    }
}
