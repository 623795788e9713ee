//! The client as a tower stack: a generated client takes a user's tower layer in one line
//! (`ProbeClient::new(channel).layer(…)`), every call goes through it in order, a layer's
//! `poll_ready` is honoured, and a layer's error reaches the caller as a status: its own
//! `Status` as it is, tower's timeout as `DEADLINE_EXCEEDED`, anything else as `UNKNOWN`.
//! Against real servers on 127.0.0.1, direct and discovered.

mod rpc_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arpc::client::CallRequest;
use arpc::registry::Static;
use arpc::{Code, Status};
use rpc_support::*;
use tower::util::MapRequestLayer;

/// Adds `authorization: Bearer <token>` to every call: a user's interceptor.
fn bearer(token: &'static str) -> MapRequestLayer<impl Fn(CallRequest) -> CallRequest + Clone> {
    MapRequestLayer::new(move |mut request: CallRequest| {
        let value = format!("Bearer {token}").parse().expect("a header value");
        request.headers_mut().insert("authorization", value);
        request
    })
}

async fn start_guarded() -> Running {
    serve(
        arpc::Server::builder()
            .layer(require_token("s3cret"))
            .add_service(ProbeServer::new(ProbeImpl::default())),
    )
    .await
}

#[tokio::test]
async fn a_client_layer_adds_a_header_to_every_call() {
    let server = start_guarded().await;
    let plain = server.client().await;
    let err = plain.echo(ping("anonymous")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");

    let client = server.client().await.layer(bearer("s3cret"));
    for text in ["a", "b", "c"] {
        assert_eq!(client.echo(ping(text)).await.unwrap().text, text);
    }
    // The blocking (write) methods go through the same stack.
    assert_eq!(client.write(ping("w")).await.unwrap().text, "w");
    let wrong = server.client().await.layer(bearer("guess"));
    let err = wrong.echo(ping("x")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
}

/// Records the path of each call under a name, then passes it on.
fn recording(
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
) -> MapRequestLayer<impl Fn(CallRequest) -> CallRequest + Clone> {
    MapRequestLayer::new(move |request: CallRequest| {
        log.lock()
            .unwrap()
            .push(format!("{name} {}", request.uri().path()));
        request
    })
}

#[tokio::test]
async fn layers_see_every_call_outermost_first() {
    let server = start(ProbeImpl::default()).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let client = server
        .client()
        .await
        .layer(recording("inner", Arc::clone(&log)))
        .layer(recording("outer", Arc::clone(&log)));
    client.echo(ping("a")).await.unwrap();
    client.sized(ping("b")).await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "outer /probe.v1.Probe/Echo",
            "inner /probe.v1.Probe/Echo",
            "outer /probe.v1.Probe/Sized",
            "inner /probe.v1.Probe/Sized",
        ]
    );
}

#[tokio::test]
async fn a_layer_error_reaches_the_caller_as_a_status() {
    let server = start(ProbeImpl::default()).await;

    // tower's own timeout: DEADLINE_EXCEEDED, well before the handler's 5 s.
    let client = server
        .client()
        .await
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(50)));
    let started = std::time::Instant::now();
    let mut slow = ping("slow");
    slow.sleep_ms = 5_000;
    let err = client.echo(slow).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(started.elapsed() < Duration::from_secs(4));

    // A layer's own status, as it is.
    let refuse = tower::layer::layer_fn(|_inner: arpc::Channel| {
        tower::service_fn(|_request: CallRequest| async {
            Err::<http::Response<arpc::client::ResponseBody>, _>(Status::permission_denied(
                "not today",
            ))
        })
    });
    let err = server
        .client()
        .await
        .layer(refuse)
        .echo(ping("x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    assert_eq!(err.message(), "not today");

    // Any other error: UNKNOWN, saying what failed.
    let broken = tower::layer::layer_fn(|_inner: arpc::Channel| {
        tower::service_fn(|_request: CallRequest| async {
            Err::<http::Response<arpc::client::ResponseBody>, _>(std::io::Error::other(
                "the token store is down",
            ))
        })
    });
    let err = server
        .client()
        .await
        .layer(broken)
        .echo(ping("x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unknown, "{err}");
    assert!(err.message().contains("the token store is down"), "{err}");
}

#[tokio::test]
async fn a_concurrency_limit_layer_holds_calls_back_through_poll_ready() {
    let server = start(ProbeImpl::default()).await;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (counted_in_flight, counted_most) = (Arc::clone(&in_flight), Arc::clone(&most));
    // Counts calls between the limit and the channel: at most one at a time may pass.
    let count = tower::layer::layer_fn(move |inner: arpc::Channel| {
        let (in_flight, most) = (Arc::clone(&counted_in_flight), Arc::clone(&counted_most));
        tower::service_fn(move |request: CallRequest| {
            let (in_flight, most) = (Arc::clone(&in_flight), Arc::clone(&most));
            let mut inner = inner.clone();
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let response = tower::Service::call(&mut inner, request).await;
                // The response body is read after this; the limit's permit is held until the
                // response future is done, which is what `ConcurrencyLimit` promises.
                in_flight.fetch_sub(1, Ordering::SeqCst);
                response
            }
        })
    });
    let client = server
        .client()
        .await
        .layer(count)
        .layer(tower::limit::ConcurrencyLimitLayer::new(1));
    let calls = (0..4).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut p = ping(&i.to_string());
            p.sleep_ms = 50;
            client.echo(p).await
        })
    });
    for call in futures_util::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "the limit let calls through together"
    );
}

#[tokio::test]
async fn a_discovered_client_takes_layers_too() {
    let server = start_guarded().await;
    let registry = Static::new([server.addr]);
    let client = ProbeClient::discover(&registry).layer(bearer("s3cret"));
    let reply = client
        .echo_with(
            ping("balanced"),
            arpc::CallOptions::default().deadline(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert_eq!(reply.message.text, "balanced");
}
