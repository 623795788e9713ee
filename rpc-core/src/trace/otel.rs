//! OpenTelemetry (feature `opentelemetry`): when a subscriber with
//! [`tracing-opentelemetry`](https://docs.rs/tracing-opentelemetry)'s layer records arpc's
//! spans, a call's [`TraceContext`] is the OpenTelemetry span's own: the server span gets the
//! caller's `traceparent` as its remote parent, and `traceparent` carries the exported span's
//! ids, so an exporter (OTLP, Jaeger, ...) shows one trace across every hop.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::TraceContext;

/// Makes `parent` (if any) the OpenTelemetry parent of `span`, and gives `span`'s
/// OpenTelemetry ids; `None` when no OpenTelemetry layer records `span`.
pub(super) fn join(span: &tracing::Span, parent: Option<TraceContext>) -> Option<TraceContext> {
    if let Some(parent) = parent {
        let flags = if parent.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let remote = SpanContext::new(
            TraceId::from_bytes(parent.trace_id.to_be_bytes()),
            SpanId::from_bytes(parent.span_id.to_be_bytes()),
            flags,
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    let context = span.context();
    let own = context.span().span_context().clone();
    own.is_valid().then(|| TraceContext {
        trace_id: u128::from_be_bytes(own.trace_id().to_bytes()),
        span_id: u64::from_be_bytes(own.span_id().to_bytes()),
        sampled: own.is_sampled(),
    })
}
