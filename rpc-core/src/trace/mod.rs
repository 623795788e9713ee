//! Tracing: a [`tracing`] span per call on both sides, joined across hops by the W3C
//! [`traceparent`](https://www.w3.org/TR/trace-context/) header.
//!
//! - **Server**: every server runs a [`TraceService`] outermost (around the user's layers).
//!   It reads the caller's `traceparent`, opens the span `rpc.server` (fields `rpc.service`,
//!   `rpc.method`, `peer`, `trace_id`, `span_id`, `parent_span_id`, and when the call ends
//!   `request_codec`, `response_codec`, `request_compression`, `response_compression`,
//!   `code`, `request_bytes`, `response_bytes`) and gives
//!   the handler's [`Context`](crate::Context) the call's [`TraceContext`].
//! - **Client**: every call opens `rpc.client` (`rpc.method`, the ids, `request_codec`,
//!   `response_codec`, `request_compression`, `response_compression`, `code`) and sends
//!   `traceparent`. A call made inside a handler continues
//!   the handler's trace (its parent is the handler's server span), the same way it inherits
//!   the handler's deadline.
//!
//! Without a subscriber the spans are disabled and cost a branch; ids are then made and
//! `traceparent` sent only to pass on a trace that arrived with the call. Any `tracing`
//! subscriber sees the spans (`tracing-subscriber`'s `fmt`, or `tracing-opentelemetry`, which
//! exports them; the `trace_id` and `parent_span_id` fields carry the W3C ids). With the
//! `opentelemetry` feature the ids are the OpenTelemetry layer's own (see `otel.rs`), so
//! exported traces join across processes.

mod future;
mod layer;
#[cfg(feature = "opentelemetry")]
mod otel;

use std::cell::Cell;
use std::fmt;

use http::HeaderValue;

pub use self::future::ResponseFuture;
pub use self::layer::{TraceLayer, TraceService};

/// The W3C trace-context header.
pub const TRACEPARENT: &str = "traceparent";

/// One span's place in a trace, as `traceparent` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The trace's id (never 0).
    pub trace_id: u128,
    /// The span's id (never 0).
    pub span_id: u64,
    /// Whether the trace is sampled (the `01` flag).
    pub sampled: bool,
}

impl TraceContext {
    /// The first span of a new, sampled trace.
    pub fn root() -> Self {
        Self {
            trace_id: (u128::from(next_id()) << 64) | u128::from(next_id()),
            span_id: next_id(),
            sampled: true,
        }
    }

    /// A new span in the same trace, whose parent is this one.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            span_id: next_id(),
            ..*self
        }
    }

    /// The context of a call whose span is `span` and whose parent is `parent`: without a
    /// subscriber (`span` disabled) the parent passes on unchanged (no span of this call
    /// exists to be a parent); else a child of the parent, or a new trace, recorded in the
    /// span's `trace_id`, `span_id` and `parent_span_id` fields.
    pub fn for_span(span: &tracing::Span, parent: Option<Self>) -> Option<Self> {
        if span.is_disabled() {
            return parent;
        }
        // An OpenTelemetry layer gives the span its ids; they are the ones to pass on.
        #[cfg(feature = "opentelemetry")]
        let context = otel::join(span, parent)
            .unwrap_or_else(|| parent.map_or_else(Self::root, |p| p.child()));
        #[cfg(not(feature = "opentelemetry"))]
        let context = parent.map_or_else(Self::root, |p| p.child());
        span.record("trace_id", tracing::field::display(context.trace_id_hex()));
        span.record("span_id", tracing::field::display(context.span_id_hex()));
        if let Some(parent) = parent {
            span.record(
                "parent_span_id",
                tracing::field::display(parent.span_id_hex()),
            );
        }
        Some(context)
    }

    /// Reads a `traceparent` value (version `00`, or a later version's first four fields, as
    /// the specification says); `None` for anything malformed or with an all-zero id.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if version.len() != 2
            || !hex(version)
            || version == "ff"
            || (version == "00" && parts.next().is_some())
            || trace.len() != 32
            || span.len() != 16
            || flags.len() != 2
            || !hex(trace)
            || !hex(span)
            || !hex(flags)
        {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        (trace_id != 0 && span_id != 0).then_some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// Reads the `traceparent` header of `headers`, if valid.
    pub fn from_headers(headers: &http::HeaderMap) -> Option<Self> {
        headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse)
    }

    /// This context as a `traceparent` value.
    pub fn header_value(&self) -> HeaderValue {
        // Lower-case hex of fixed width: always a valid header value.
        HeaderValue::from_str(&self.to_string()).unwrap_or(HeaderValue::from_static(""))
    }

    /// The trace id as 32 hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A random non-zero id: splitmix64 per thread, seeded once from the OS's randomness
/// (uuid's v4), so making an id costs a few instructions and no system call.
fn next_id() -> u64 {
    STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = uuid::Uuid::new_v4().as_u64_pair().0 | 1;
        }
        loop {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            if z != 0 {
                state.set(s);
                return z;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_malformed_values_are_refused() {
        let example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceContext::parse(example).unwrap();
        assert_eq!(parsed.trace_id, 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736);
        assert_eq!(parsed.span_id, 0x00f0_67aa_0ba9_02b7);
        assert!(parsed.sampled);
        assert_eq!(parsed.to_string(), example);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
        // A later version may add fields; the first four are read.
        assert!(
            TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some_and(|c| !c.sampled)
        );
    }

    #[test]
    fn children_keep_the_trace_and_get_new_span_ids() {
        let root = TraceContext::root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_ne!(TraceContext::root().trace_id, root.trace_id);
    }
}
