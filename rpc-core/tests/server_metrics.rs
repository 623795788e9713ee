//! Prometheus metrics of a running server: calls in two codecs, a panicking handler and a
//! path nobody serves, then a scrape of the metrics endpoint by a real HTTP/1.1 client
//! (hyper's), whose text must parse as the exposition format and carry per-method,
//! per-codec and per-status series with the right counts. And a discovering client's series:
//! retries, retry-budget refusals and ejections, equal to what its channel counted.

#![cfg(feature = "metrics")]

mod rpc_support;

use std::collections::HashMap;
use std::time::Duration;

use arpc::CallOptions;
use arpc::codec::CodecKind;
use arpc::metrics::Metrics;
use http_body_util::{BodyExt, Empty};
use rpc_support::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One sample: its name, its labels, its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Parses the text exposition strictly: `# TYPE`/`# HELP`/`# UNIT` comments, samples
/// `name{k="v",…} value`, and `# EOF` last. Panics on anything else.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut saw_eof = false;
    for line in text.lines() {
        assert!(!saw_eof, "nothing follows `# EOF`: {line:?}");
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next().unwrap();
            assert!(
                ["TYPE", "HELP", "UNIT"].contains(&kind),
                "a known comment: {line:?}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("a number: {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with `}`");
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
            None => (series, HashMap::new()),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "a metric name: {name:?}"
        );
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    assert!(saw_eof, "the exposition ends with `# EOF`");
    samples
}

/// The value of the one sample named `name` whose labels include `with`.
fn value(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "one sample {name} {with:?} in {samples:#?}");
    found[0].value
}

/// GET `path` over HTTP/1.1: the status, the content-type and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn a_scrape_of_a_running_server_has_per_method_codec_and_status_series() {
    let metrics = Metrics::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        arpc::Server::builder()
            .add_service(ProbeServer::new(ProbeImpl::default()))
            .metrics(&metrics)
            .serve_with_incoming(listener, async {
                let _ = stopped.await;
            }),
    );
    let scrape_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scrape_addr = scrape_listener.local_addr().unwrap();
    let endpoint = tokio::spawn(metrics.clone().serve(scrape_listener));

    let client = ProbeClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    for (codec, n) in [(CodecKind::Postcard, 3), (CodecKind::Json, 2)] {
        for _ in 0..n {
            let options = CallOptions::default()
                .codec(codec)
                .accept(arpc::codec::CodecSet::only(codec));
            client.echo_with(ping("hi"), options).await.unwrap();
        }
    }
    let failed = client.boom(ping("panic")).await.unwrap_err();
    assert_eq!(failed.code(), arpc::Code::Internal);
    client.write(ping("w")).await.unwrap();
    // `small` takes at most 512 bytes: refused with RESOURCE_EXHAUSTED.
    let refused = client.small(ping(&"x".repeat(1000))).await.unwrap_err();
    assert_eq!(refused.code(), arpc::Code::ResourceExhausted);
    let (status, headers, _) = raw_request(
        addr,
        "/probe.v1.Nobody/Here",
        &[("content-type", "application/grpc")],
        &frame(&[]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("grpc-status").unwrap(), "12", "UNIMPLEMENTED");

    let (status, content_type, text) = get(scrape_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let samples = parse(&text);
    let echo = [
        ("service", "probe.v1.Probe"),
        ("method", "/probe.v1.Probe/Echo"),
    ];
    let calls = "arpc_server_calls_total";
    let with = |codec: &'static str, code: &'static str| {
        let mut l = echo.to_vec();
        l.extend([
            ("request_codec", codec),
            ("response_codec", codec),
            ("code", code),
        ]);
        l
    };
    assert_eq!(value(&samples, calls, &with("postcard", "OK")), 3.0);
    assert_eq!(value(&samples, calls, &with("json", "OK")), 2.0);
    assert_eq!(
        value(
            &samples,
            calls,
            &[("method", "/probe.v1.Probe/Boom"), ("code", "INTERNAL")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            calls,
            &[
                ("service", "unknown"),
                ("method", "unknown"),
                ("code", "UNIMPLEMENTED")
            ]
        ),
        1.0
    );
    let postcard = [
        echo[0],
        echo[1],
        ("request_codec", "postcard"),
        ("response_codec", "postcard"),
    ];
    assert_eq!(
        value(
            &samples,
            "arpc_server_call_duration_seconds_count",
            &postcard
        ),
        3.0
    );
    // A framed `Ping` in postcard: 5 bytes of frame header and a few of message.
    let request_bytes = value(&samples, "arpc_server_request_bytes_total", &postcard);
    assert!(
        (3.0 * 6.0..3.0 * 64.0).contains(&request_bytes),
        "{request_bytes}"
    );
    let response_bytes = value(&samples, "arpc_server_response_bytes_total", &postcard);
    assert!(response_bytes >= 3.0 * 6.0, "{response_bytes}");
    assert_eq!(value(&samples, "arpc_server_calls_in_flight", &echo), 0.0);
    assert_eq!(value(&samples, "arpc_server_pool_busy_threads", &[]), 0.0);
    assert_eq!(value(&samples, "arpc_server_pool_queued_calls", &[]), 0.0);
    assert_eq!(value(&samples, "arpc_server_refused_calls_total", &[]), 1.0);
    assert_eq!(
        value(
            &samples,
            calls,
            &[("method", "/probe.v1.Probe/Write"), ("code", "OK")]
        ),
        1.0
    );
    // Health and reflection are counted too, under their service (streamed: method `*`).
    assert!(
        !text.contains("Nobody"),
        "a path nobody serves makes no series of its own"
    );

    let (status, _, _) = get(scrape_addr, "/other").await;
    assert_eq!(status, 404);
    endpoint.abort();
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn a_call_in_flight_is_counted_until_it_ends() {
    use tower::ServiceExt;
    let metrics = Metrics::new();
    let server = arpc::Server::builder()
        .add_service(ProbeServer::new(ProbeImpl::default()))
        .metrics(&metrics)
        .into_service();
    let echo = |sleep_ms: u32| {
        let server = server.clone();
        async move {
            let request = http::Request::post("/probe.v1.Probe/Echo")
                .header("content-type", "application/grpc")
                .body(http_body_util::Full::new(bytes::Bytes::from(frame(
                    &proto_ping_sleeping("e", sleep_ms),
                ))))
                .unwrap();
            server.oneshot(request).await.unwrap()
        }
    };
    let in_flight = || {
        value(
            &parse(&metrics.render()),
            "arpc_server_calls_in_flight",
            &[("method", "/probe.v1.Probe/Echo")],
        )
    };
    // The first answer teaches the layer the method's label.
    echo(0).await;
    assert_eq!(in_flight(), 0.0);
    let slow = tokio::spawn(echo(300));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while in_flight() == 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow call is counted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(in_flight(), 1.0);
    slow.await.unwrap();
    assert_eq!(in_flight(), 0.0);
}

#[tokio::test]
async fn a_discovering_client_reports_retries_and_ejections() {
    let metrics = Metrics::new();
    let server = start(ProbeImpl::default()).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = ProbeClient::discover(&arpc::registry::Static::new([dead, server.addr]));
    metrics.watch_channel(client.channel());
    // Reads picking the dead address are retried on the live one; each failure ejects it.
    for _ in 0..40 {
        client.echo(ping("r")).await.unwrap();
    }
    let stats = client.channel().stats();
    assert!(stats.ejections >= 1, "{stats:?}");
    assert_eq!(stats.retries, stats.ejections, "{stats:?}");
    let samples = parse(&metrics.render());
    let service = [("service", "probe.v1.Probe")];
    let scraped = |name| value(&samples, name, &service);
    let count = |n: u64| f64::from(u32::try_from(n).unwrap());
    assert_eq!(scraped("arpc_client_retries_total"), count(stats.retries));
    assert_eq!(
        scraped("arpc_client_ejections_total"),
        count(stats.ejections)
    );
    assert_eq!(scraped("arpc_client_retry_budget_refusals_total"), 0.0);
    // A dropped channel leaves the scrape.
    drop(client);
    let samples = parse(&metrics.render());
    assert!(
        samples.iter().all(|s| !s.name.starts_with("arpc_client_")),
        "{samples:#?}"
    );
}

#[test]
fn an_applications_own_series_are_rendered_with_arpcs() {
    use arpc::metrics::prometheus_client::metrics::counter::Counter;
    use arpc::metrics::prometheus_client::metrics::family::Family;
    let metrics = Metrics::new();
    let things = Family::<Vec<(String, String)>, Counter>::default();
    metrics.register("app_things", "Things the application did", things.clone());
    things
        .get_or_create(&vec![("kind".to_owned(), "big".to_owned())])
        .inc_by(3);
    let samples = parse(&metrics.render());
    let thing = samples
        .iter()
        .find(|s| s.name == "app_things_total")
        .expect("the application's counter is rendered");
    assert_eq!((thing.value, thing.labels["kind"].as_str()), (3.0, "big"));
    assert!(
        samples
            .iter()
            .any(|s| s.name == "arpc_server_refused_calls_total"),
        "arpc's series are still there"
    );
}
