//! The response future of [`TraceService`](super::TraceService).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tracing::Span;

use crate::server::{CallInfo, ResponseBody};
use crate::wire::ContentType;

pin_project! {
    /// Polls the call inside its span, and records how it ended.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, span: Span) -> Self {
        Self { inner, span }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResponseBody>, E>>,
{
    type Output = Result<Response<ResponseBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        if !this.span.is_disabled()
            && let Ok(response) = &result
        {
            record(this.span, response);
        }
        Poll::Ready(result)
    }
}

fn record(span: &Span, response: &Response<ResponseBody>) {
    if let Some(code) = crate::server::answered_code(response) {
        span.record("code", crate::status::code_name(code));
    }
    if let ContentType::Grpc { codec, .. } = ContentType::of(response.headers()) {
        span.record("response_codec", codec.name());
    }
    if let Some(info) = response.extensions().get::<CallInfo>() {
        span.record("request_bytes", info.request_bytes);
        span.record("request_compression", info.request_compression.name());
        span.record("response_compression", info.response_compression.name());
        span.record("response_bytes", info.response_bytes);
    }
}
