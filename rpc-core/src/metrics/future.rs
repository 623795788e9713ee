//! The response future of [`MetricsService`](super::MetricsService), and what it records.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::{CallLabels, CodecLabels, MethodLabels, Metrics, service_of};
use crate::server::{CallInfo, ResponseBody, RoutedService};
use crate::status::code_name;
use crate::wire::{self, ContentType};
use crate::{Code, Status};

/// Counts a call in `calls_in_flight` until dropped.
pub(super) struct InFlight {
    metrics: Metrics,
    labels: MethodLabels,
}

impl InFlight {
    pub(super) fn start(metrics: &Metrics, method: &'static str) -> Self {
        let labels = MethodLabels {
            service: service_of(method),
            method,
        };
        metrics.inner.in_flight.get_or_create(&labels).inc();
        Self {
            metrics: metrics.clone(),
            labels,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics
            .inner
            .in_flight
            .get_or_create(&self.labels)
            .dec();
    }
}

pin_project! {
    /// Records the call when the inner service answers.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        metrics: Metrics,
        request_codec: &'static str,
        started: Instant,
        in_flight: Option<InFlight>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(
        inner: F,
        metrics: Metrics,
        request_codec: &'static str,
        started: Instant,
        in_flight: Option<InFlight>,
    ) -> Self {
        Self {
            inner,
            metrics,
            request_codec,
            started,
            in_flight,
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResponseBody>, E>>,
{
    type Output = Result<Response<ResponseBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        this.in_flight.take();
        // A layer inside this one that fails the call (rather than answering it) is not
        // counted here: add the metrics layer outside such layers.
        let Ok(response) = result else {
            return Poll::Ready(result);
        };
        Poll::Ready(Ok(record(
            this.metrics,
            this.request_codec,
            *this.started,
            response,
        )))
    }
}

/// What every series of one call shares.
struct Call {
    metrics: Metrics,
    labels: CodecLabels,
    started: Instant,
    request_bytes: usize,
}

impl Call {
    fn finish(&self, code: Code, response_bytes: usize) {
        let inner = &self.metrics.inner;
        let l = &self.labels;
        inner
            .calls
            .get_or_create(&CallLabels {
                service: l.service,
                method: l.method,
                request_codec: l.request_codec,
                response_codec: l.response_codec,
                request_compression: l.request_compression,
                response_compression: l.response_compression,
                code: code_name(code),
            })
            .inc();
        inner
            .duration
            .get_or_create(l)
            .observe(self.started.elapsed().as_secs_f64());
        inner
            .request_bytes
            .get_or_create(l)
            .inc_by(self.request_bytes as u64);
        inner
            .response_bytes
            .get_or_create(l)
            .inc_by(response_bytes as u64);
        if code == Code::ResourceExhausted {
            inner.refused.inc();
        }
    }
}

fn record(
    metrics: &Metrics,
    request_codec: &'static str,
    started: Instant,
    response: Response<ResponseBody>,
) -> Response<ResponseBody> {
    let info = response.extensions().get::<CallInfo>().copied();
    let (service, method, request_bytes) = match info {
        Some(info) => {
            metrics.learn_method(info.method);
            (info.service(), info.method, info.request_bytes)
        }
        None => match response.extensions().get::<RoutedService>() {
            Some(routed) => (routed.0, "*", 0),
            None => ("unknown", "unknown", 0),
        },
    };
    let (request_compression, response_compression) = info.map_or(("identity", "identity"), |i| {
        (i.request_compression.name(), i.response_compression.name())
    });
    let response_codec = match ContentType::of(response.headers()) {
        ContentType::Grpc { codec, .. } => codec.name(),
        ContentType::UnknownCodec | ContentType::NotGrpc => "none",
    };
    let call = Call {
        metrics: metrics.clone(),
        labels: CodecLabels {
            service,
            method,
            request_codec,
            response_codec,
            request_compression,
            response_compression,
        },
        started,
        request_bytes,
    };
    let code = crate::server::answered_code(&response);
    let (parts, body) = response.into_parts();
    let body = match body {
        ResponseBody::Unary(body) => {
            let code = code.unwrap_or(if parts.status == http::StatusCode::OK {
                Code::Unknown
            } else {
                // Not gRPC at all (HTTP 415): what a gRPC client makes of it.
                Code::Internal
            });
            let bytes = info.map_or(body.data_len(), |i| i.response_bytes);
            call.finish(code, bytes);
            ResponseBody::Unary(body)
        }
        // A trailers-only answer has its status already.
        ResponseBody::Stream(body) if code.is_some() => {
            call.finish(code.unwrap_or(Code::Unknown), 0);
            ResponseBody::Stream(body)
        }
        // A stream's status comes in its trailers: recorded when they pass.
        ResponseBody::Stream(body) => ResponseBody::Stream(tonic::body::Body::new(Observed {
            inner: body,
            call: Some(call),
            bytes: 0,
        })),
    };
    Response::from_parts(parts, body)
}

pin_project! {
    /// A streamed body that records its call when its trailers (or its end) pass.
    struct Observed {
        #[pin]
        inner: tonic::body::Body,
        call: Option<Call>,
        bytes: usize,
    }
}

impl Observed {
    fn finish(call: &mut Option<Call>, trailers: Option<&HeaderMap>, bytes: usize) {
        if let Some(call) = call.take() {
            let code = trailers
                .and_then(wire::status::code)
                .unwrap_or(Code::Unknown);
            call.finish(code, bytes);
        }
    }
}

impl Body for Observed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    *this.bytes += data.len();
                } else if let Some(trailers) = f.trailers_ref() {
                    Self::finish(this.call, Some(trailers), *this.bytes);
                }
            }
            Some(Err(_)) | None => Self::finish(this.call, None, *this.bytes),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
