//! Trace spans follow an event through the hub: a publish made inside a trace is continued
//! by the listener's `hub.apply` span for that event (a child of the `Publish` server span,
//! carried in the event through the log), and a screen read afterwards records, in its
//! `hub.screen` span, the entity at the version that `hub.apply` span reports. The hub runs
//! in this process (so one subscriber sees every span) and is called over loopback.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arpc_example_datahub::hub::{Hub, HubConfig};
use arpc_example_datahub::model::{Ack, ScreenRequest};
use arpc_example_datahub::workload::{Producer, Team};
use arpc_example_datahub::{PublisherClient, QueryClient};
use support::{TempDir, publish};
use tracing::Instrument;
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, field::Field};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = HashMap<String, String>;

/// Every span seen: its name and fields, by span id.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<HashMap<u64, (&'static str, Fields)>>>);

struct Visitor<'a>(&'a mut Fields);

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
        let mut fields = Fields::new();
        attrs.record(&mut Visitor(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.insert(id.into_u64(), (attrs.metadata().name(), fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Visitor(fields));
        }
    }
}

impl Capture {
    /// The fields of the spans named `name` that `keep` selects.
    fn find(&self, name: &str, keep: impl Fn(&Fields) -> bool) -> Vec<Fields> {
        let spans = self.0.lock().unwrap();
        spans
            .values()
            .filter(|(n, f)| *n == name && keep(f))
            .map(|(_, f)| f.clone())
            .collect()
    }
}

fn capture() -> Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            let subscriber = tracing_subscriber::registry().with(capture.clone());
            tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
            capture
        })
        .clone()
}

fn get<'a>(f: &'a Fields, k: &str) -> &'a str {
    f.get(k).map_or("", String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_its_processing_and_the_reads_that_show_it_join() {
    let spans = capture();
    let dir = TempDir::new("trace-join");
    let hub = Arc::new(Hub::open(HubConfig::embedded(dir.path())).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let serving = Arc::clone(&hub);
    tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });
    let publisher = PublisherClient::connect(addr.clone()).await.unwrap();
    let query = QueryClient::connect(addr).await.unwrap();

    let mut member = Producer::new(Team::Members, 1, 1.0, 21);
    for round in 0..3 {
        let (event, key) = member.next_event();
        let event_id = event.event_id.clone();
        let response = publish(&publisher, vec![event], Ack::Applied)
            .instrument(tracing::info_span!("test.publish", round))
            .await;
        let version = response.results[0].applied_version.expect("applied");

        // The listener's span for the event, in the publish's trace.
        let deadline = Instant::now() + Duration::from_secs(10);
        let apply = loop {
            let found = spans.find("hub.apply", |f| get(f, "event_id") == event_id);
            if let [one] = &found[..] {
                break one.clone();
            }
            assert!(
                Instant::now() < deadline,
                "one hub.apply for {event_id}: {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let server = spans.find("rpc.server", |f| {
            get(f, "span_id") == get(&apply, "parent_span_id")
        });
        let [parent] = &server[..] else {
            panic!(
                "hub.apply's parent is a server span: {apply:?}; server spans: {:?}",
                spans.find("rpc.server", |_| true)
            );
        };
        assert_eq!(get(parent, "rpc.method"), "Publish", "{parent:?}");
        assert_eq!(get(parent, "trace_id"), get(&apply, "trace_id"));
        assert!(!get(&apply, "trace_id").is_empty());
        assert_eq!(get(&apply, "key"), key.key);
        assert_eq!(get(&apply, "version"), version.to_string());
        assert_eq!(get(&apply, "outcome"), "applied");

        // A screen read now serves the row at that version, and says so in its span.
        let screen = query
            .screen(ScreenRequest {
                member_id: key.partition_key.parse().unwrap(),
                seller_id: 1,
                items: 1,
                ..ScreenRequest::default()
            })
            .instrument(tracing::info_span!("test.read", round))
            .await
            .expect("screen");
        assert!(
            screen
                .versions
                .iter()
                .any(|v| v.key == key.key && v.version == version)
        );
        let served = format!("{}@{version}", key.key);
        let reads = spans.find("hub.screen", |f| {
            get(f, "served").split(' ').any(|s| s == served)
        });
        assert!(!reads.is_empty(), "a hub.screen span served {served}");
        assert!(reads.iter().all(|r| !get(r, "trace_id").is_empty()));
        println!(
            "round {round}: {event_id} applied in trace {} (parent span {}); read by {} screen span(s)",
            get(&apply, "trace_id"),
            get(&apply, "parent_span_id"),
            reads.len()
        );
    }
}
