//! Every hub process serves Prometheus metrics: arpc's per-method series and the hub's
//! (published and applied events by domain, publish→applied latency, lag and pauses per
//! partition, the screen cache, shard reads). A scrape of a running `datahub serve
//! --metrics-addr` after known work shows the counts that work implies.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arpc_example_datahub::directory::Target;
use arpc_example_datahub::model::{Ack, ItemStatus, ScreenRequest};
use arpc_example_datahub::partition::{Group, LogPartition};
use arpc_example_datahub::workload::{Producer, Team};
use support::{HubProcess, TempDir, View, publish};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET /metrics` over HTTP/1.1; the samples as `series → value` (series with labels as
/// printed).
async fn scrape(addr: &str) -> HashMap<String, f64> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("# EOF"), "an OpenMetrics exposition");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in the scrape"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_what_the_hub_did() {
    let dir = TempDir::new("hub-metrics");
    let hub = HubProcess::start(dir.path(), &["--metrics-addr", "127.0.0.1:0"], &[]);
    let metrics = hub.line_after("metrics on ").expect("the metrics address");
    let (publisher, query) = (hub.client().await, hub.query().await);

    // 300 member events and 200 item events, all applied when answered.
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for (team, n, domain) in [(Team::Members, 300, "member"), (Team::Items, 200, "item")] {
        let mut producer = Producer::new(team, 50, 1.0, 6);
        let events = (0..n).map(|_| producer.next_event().0).collect();
        let r = publish(&publisher, events, Ack::Applied).await;
        *accepted.entry(domain).or_default() += r
            .results
            .iter()
            .filter(|x| x.status == ItemStatus::Accepted)
            .count();
    }
    // 20 screens of one member and seller: 2 misses, then hits.
    for _ in 0..20 {
        query
            .screen(ScreenRequest {
                member_id: 1,
                seller_id: 1,
                items: 5,
                ..ScreenRequest::default()
            })
            .await
            .unwrap();
    }
    // A pause, applied by the listener.
    let view = View::open(dir.path(), 8).await;
    let p = LogPartition {
        group: Group::Member,
        partition: 3,
    };
    view.control
        .pause(Target::Partition(p), "metrics test")
        .await
        .unwrap();
    let paused =
        "hub_partition_paused{group=\"member\",partition=\"3\",reason=\"admin: metrics test\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    let samples = loop {
        let samples = scrape(&metrics).await;
        if samples.contains_key(paused) {
            break samples;
        }
        assert!(
            Instant::now() < deadline,
            "the pause never showed in the metrics"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    for (domain, n) in &accepted {
        let n = *n as f64;
        let labels = format!("{{domain=\"{domain}\"}}");
        assert_eq!(
            value(&samples, &format!("hub_published_events_total{labels}")),
            n
        );
        assert_eq!(
            value(&samples, &format!("hub_applied_events_total{labels}")),
            n
        );
        assert_eq!(
            value(
                &samples,
                &format!("hub_publish_to_applied_seconds_count{labels}")
            ),
            n
        );
    }
    assert_eq!(value(&samples, "hub_cache_misses_total"), 2.0);
    assert_eq!(value(&samples, "hub_cache_hits_total"), 38.0);
    assert_eq!(value(&samples, "hub_shard_reads_total"), 2.0);
    assert_eq!(value(&samples, paused), 1.0);
    let lags = samples
        .keys()
        .filter(|k| k.starts_with("hub_partition_lag{"))
        .count();
    assert_eq!(lags, 16, "a lag per log partition");
    let screens: f64 = samples
        .iter()
        .filter(|(k, _)| {
            k.starts_with("arpc_server_calls_total{")
                && k.contains("service=\"datahub.query.v1.Query\"")
                && k.contains("method=\"/datahub.query.v1.Query/Screen\"")
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(screens, 20.0, "arpc's per-method series are served too");
}
