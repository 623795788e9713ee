//! Tracing across hops: a call through a middle service (client → front → back) makes four
//! spans (`rpc.client`, `rpc.server`, `rpc.client`, `rpc.server`) in one trace, each the
//! parent of the next, joined by `traceparent` on the wire; a foreign caller's
//! `traceparent` is continued through both hops. Spans are captured by a
//! `tracing-subscriber` layer, as any subscriber would see them.

mod rpc_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rpc_support::*;
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, field::Field};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Default)]
struct Captured {
    name: &'static str,
    fields: HashMap<String, String>,
}

impl Captured {
    fn get(&self, field: &str) -> &str {
        self.fields.get(field).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct Spans {
    open: HashMap<u64, Captured>,
    closed: Vec<Captured>,
}

struct Capture(Arc<Mutex<Spans>>);

struct Visitor<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut span = Captured {
            name: attrs.metadata().name(),
            ..Captured::default()
        };
        attrs.record(&mut Visitor(&mut span.fields));
        lock(&self.0).open.insert(id.into_u64(), span);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(span) = lock(&self.0).open.get_mut(&id.into_u64()) {
            values.record(&mut Visitor(&mut span.fields));
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        let mut spans = lock(&self.0);
        if let Some(span) = spans.open.remove(&id.into_u64()) {
            spans.closed.push(span);
        }
    }
}

fn lock(spans: &Mutex<Spans>) -> std::sync::MutexGuard<'_, Spans> {
    spans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The captured spans (open and closed) that `keep` selects.
fn select(spans: &Mutex<Spans>, keep: impl Fn(&Captured) -> bool) -> Vec<Captured> {
    let spans = lock(spans);
    spans
        .open
        .values()
        .chain(&spans.closed)
        .filter(|s| keep(s))
        .cloned()
        .collect()
}

/// Installs the capturing subscriber for this test binary (once).
fn spans() -> Arc<Mutex<Spans>> {
    static SPANS: OnceLock<Arc<Mutex<Spans>>> = OnceLock::new();
    Arc::clone(SPANS.get_or_init(|| {
        let spans = Arc::new(Mutex::new(Spans::default()));
        let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&spans)));
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        spans
    }))
}

/// The one captured span named `name` with `field` = `value` in trace `trace_id`.
fn find(spans: &Arc<Mutex<Spans>>, name: &str, method: &str, trace_id: &str) -> Captured {
    let found = select(spans, |s| {
        s.name == name && s.get("rpc.method") == method && s.get("trace_id") == trace_id
    });
    assert_eq!(
        found.len(),
        1,
        "one {name} {method} in trace {trace_id}: {found:#?}"
    );
    found[0].clone()
}

/// A client → front → back chain; the front relays to the back.
async fn chain() -> (Running, Running) {
    let back = start(ProbeImpl::default()).await;
    let front = start(ProbeImpl {
        downstream: Some(back.client().await),
        ..ProbeImpl::default()
    })
    .await;
    (front, back)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_join_across_two_hops() {
    let spans = spans();
    let (front, back) = chain().await;
    front.client().await.relay(ping("x")).await.unwrap();

    // The caller's span starts the trace.
    let outer = select(&spans, |s| {
        s.name == "rpc.client" && s.get("rpc.method") == "/probe.v1.Probe/Relay"
    });
    assert_eq!(outer.len(), 1, "{outer:#?}");
    let outer = outer[0].clone();
    let trace = outer.get("trace_id").to_owned();
    assert_eq!(trace.len(), 32, "a W3C trace id: {outer:?}");
    assert_eq!(outer.get("parent_span_id"), "", "a new trace has no parent");
    assert_eq!(outer.get("code"), "OK");
    let front_server = find(&spans, "rpc.server", "Relay", &trace);
    let middle = find(&spans, "rpc.client", "/probe.v1.Probe/Echo", &trace);
    let back_server = find(&spans, "rpc.server", "Echo", &trace);
    assert_eq!(front_server.get("parent_span_id"), outer.get("span_id"));
    assert_eq!(middle.get("parent_span_id"), front_server.get("span_id"));
    assert_eq!(back_server.get("parent_span_id"), middle.get("span_id"));
    let ids = [&outer, &front_server, &middle, &back_server].map(|s| s.get("span_id").to_owned());
    assert!(ids.iter().all(|id| id.len() == 16), "{ids:?}");
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        4,
        "four distinct spans: {ids:?}"
    );
    for server in [&front_server, &back_server] {
        assert_eq!(server.get("rpc.service"), "probe.v1.Probe");
        assert_eq!(server.get("code"), "OK");
        assert_eq!(server.get("request_codec"), "proto");
        assert_eq!(server.get("response_codec"), "proto");
        assert!(server.get("peer").starts_with("127.0.0.1:"), "{server:?}");
        assert!(server.get("request_bytes").parse::<usize>().unwrap() >= 5);
    }
    assert_eq!(middle.get("code"), "OK");
    drop((front, back));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_traceparent_is_continued_through_both_hops() {
    let spans = spans();
    let (front, back) = chain().await;
    let foreign_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let foreign_parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{foreign_trace}-{foreign_parent}-01");
    let (status, headers, _) = raw_request(
        front.addr,
        "/probe.v1.Probe/Relay",
        &[
            ("content-type", "application/grpc+proto"),
            ("traceparent", &traceparent),
        ],
        &frame(&proto_ping("y")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("grpc-status").unwrap(), "0");
    let front_server = find(&spans, "rpc.server", "Relay", foreign_trace);
    assert_eq!(front_server.get("parent_span_id"), foreign_parent);
    let middle = find(&spans, "rpc.client", "/probe.v1.Probe/Echo", foreign_trace);
    assert_eq!(middle.get("parent_span_id"), front_server.get("span_id"));
    let back_server = find(&spans, "rpc.server", "Echo", foreign_trace);
    assert_eq!(back_server.get("parent_span_id"), middle.get("span_id"));
    drop((front, back));
}
