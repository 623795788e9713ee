//! OpenTelemetry (feature `opentelemetry`): with `tracing-opentelemetry`'s layer and an
//! in-memory exporter, a call through two hops (caller → front → back, the front calling the
//! back from its handler) exports four spans in one trace, each the child of the one before:
//! what `traceparent` carried between the processes is the exported spans' own ids.

#![cfg(feature = "opentelemetry")]

mod rpc_support;

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rpc_support::*;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn spans_of_two_hops_are_exported_in_one_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("arpc-test")));
    // The test's runtime has one thread: the servers' tasks record into this subscriber too.
    let _guard = tracing::subscriber::set_default(subscriber);

    let back = start(ProbeImpl::default()).await;
    let front = start(ProbeImpl {
        downstream: Some(back.client().await),
        ..ProbeImpl::default()
    })
    .await;
    let reply = front.client().await.relay(ping("traced")).await.unwrap();
    assert_eq!(reply.text, "traced");
    drop((front, back));
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let named = |name: &str, method: &str| -> Vec<&SpanData> {
        spans
            .iter()
            .filter(|s| {
                s.name == name
                    && s.attributes.iter().any(|kv| {
                        kv.key.as_str() == "rpc.method" && kv.value.as_str().ends_with(method)
                    })
            })
            .collect()
    };
    let (caller, front_server) = (named("rpc.client", "Relay"), named("rpc.server", "Relay"));
    let (front_client, back_server) = (named("rpc.client", "Echo"), named("rpc.server", "Echo"));
    for (what, found) in [
        ("caller's client span", &caller),
        ("front's server span", &front_server),
        ("front's client span", &front_client),
        ("back's server span", &back_server),
    ] {
        assert_eq!(found.len(), 1, "one {what} in {spans:#?}");
    }
    let chain = [caller[0], front_server[0], front_client[0], back_server[0]];
    let trace = chain[0].span_context.trace_id();
    assert_eq!(
        chain[0].parent_span_id,
        SpanId::INVALID,
        "the caller starts the trace"
    );
    for pair in chain.windows(2) {
        assert_eq!(pair[1].span_context.trace_id(), trace, "{pair:#?}");
        assert_eq!(
            pair[1].parent_span_id,
            pair[0].span_context.span_id(),
            "each span is the child of the one before: {pair:#?}"
        );
    }
}
