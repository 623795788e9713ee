//! Trace spans that follow an event through the hub, joined by W3C trace context (arpc's
//! [`TraceContext`]):
//!
//! | span | where | in which trace |
//! |---|---|---|
//! | `rpc.server` `Publish` | arpc, around the publish call | the caller's (its `traceparent`), or a new one |
//! | `hub.apply` | the listener's commit stage, one per event that carries a trace (`event_id`, `key`, `shard`, `version`, `outcome`, `logged_ms`, `committed_ms`) | the publish's: its parent is the `Publish` server span |
//! | `hub.screen` | the read path, one per screen (`served`: every entity shown, `key@version`) | the reader's call |
//!
//! The publisher stamps each event that has no `trace_id` of its own with the publish call's
//! context (a `traceparent` value), which travels in the event through the log, so the
//! listener, in whatever process, continues the publish's trace. A screen is composed of
//! rows written by many events, so it is not a child of any one publish: its `served` field
//! names each row at its version, as the `hub.apply` span (and `Admin.lineage`) of the event
//! that wrote it does.
//!
//! Without a `tracing` subscriber the spans are disabled and cost a branch, and a publish
//! stamps events only when its caller sent a `traceparent`.

use arpc::trace::TraceContext;
use tracing::field::Empty;

use crate::model::{DisplayScreen, Event, ScreenRequest};

/// Stamps the events without a trace id with the current call's trace context, if it has
/// one (called by the publish handler).
pub fn stamp(events: &mut [Event]) {
    let Some(trace) = arpc::Context::current().and_then(|c| c.trace()) else {
        return;
    };
    let Ok(value) = trace.header_value().to_str().map(str::to_owned) else {
        return;
    };
    for event in events.iter_mut().filter(|e| e.trace_id.is_none()) {
        event.trace_id = Some(value.clone());
    }
}

/// What the commit stage knows about one applied event.
#[derive(Debug, Clone, Copy)]
pub struct Applied<'a> {
    /// The event.
    pub event: &'a Event,
    /// The shard its row went to.
    pub shard: u32,
    /// The row's version.
    pub version: u64,
    /// `applied`, `unchanged`, `stale`, …
    pub outcome: &'static str,
    /// When it was logged (Unix ms).
    pub logged_ms: i64,
    /// When its batch committed (Unix ms).
    pub committed_ms: i64,
}

/// Records a `hub.apply` span in the event's trace, when the event carries one.
pub fn applied(a: Applied<'_>) {
    let Some(parent) = a.event.trace_id.as_deref().and_then(TraceContext::parse) else {
        return;
    };
    let span = tracing::info_span!(
        "hub.apply",
        event_id = %a.event.event_id,
        key = %a.event.key,
        shard = a.shard,
        version = a.version,
        outcome = a.outcome,
        logged_ms = a.logged_ms,
        committed_ms = a.committed_ms,
        trace_id = Empty,
        span_id = Empty,
        parent_span_id = Empty,
    );
    TraceContext::for_span(&span, Some(parent));
}

/// The `hub.screen` span of one screen read, a child of the call's server span.
pub fn screen_span(request: &ScreenRequest) -> tracing::Span {
    let span = tracing::info_span!(
        "hub.screen",
        member_id = request.member_id,
        seller_id = request.seller_id,
        served = Empty,
        trace_id = Empty,
        span_id = Empty,
        parent_span_id = Empty,
    );
    if !span.is_disabled() {
        TraceContext::for_span(&span, arpc::Context::current().and_then(|c| c.trace()));
    }
    span
}

/// Records what a screen showed (`key@version …`) on its span.
pub fn record_served(span: &tracing::Span, screen: &DisplayScreen) {
    if span.is_disabled() {
        return;
    }
    let served: Vec<String> = screen
        .versions
        .iter()
        .map(|v| format!("{}@{}", v.key, v.version))
        .collect();
    span.record("served", tracing::field::display(served.join(" ")));
}
