//! Deadlines: enforced by the server, defaulted per method, and propagated across hops.

mod rpc_support;

use std::time::{Duration, Instant};

use arpc::{CallOptions, Code};
use rpc_support::*;

#[tokio::test]
async fn a_slow_handler_past_the_deadline_is_deadline_exceeded() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    let mut slow = ping("slow");
    slow.sleep_ms = 2_000;
    let started = Instant::now();
    let err = client
        .echo_with(
            slow,
            CallOptions::default().deadline(Duration::from_millis(150)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_server_enforces_grpc_timeout_itself() {
    // A bare HTTP/2 request with `grpc-timeout: 150m` and no timer on the caller's side: only
    // the server's own enforcement can end the 2 s handler early.
    let server = start(ProbeImpl::default()).await;
    let started = Instant::now();
    let (status, headers, _) = raw_request(
        server.addr,
        "/probe.v1.Probe/Echo",
        &[
            ("content-type", "application/grpc"),
            ("grpc-timeout", "150m"),
        ],
        &frame(&proto_ping_sleeping("slow", 2_000)),
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("grpc-status").unwrap(),
        &(Code::DeadlineExceeded as i32).to_string(),
        "{headers:?}"
    );
    assert!(waited < Duration::from_millis(1_500), "{waited:?}");
}

#[tokio::test]
async fn a_methods_default_deadline_applies_when_the_caller_sends_none() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    let mut slow = ping("slow");
    slow.sleep_ms = 2_000;
    let started = Instant::now();
    let err = client.short(slow).await.unwrap_err();
    // `short` has a default deadline of 100 ms, the caller sent none and has no timer.
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(err.message().contains("deadline passed"), "{err}");
    assert!(started.elapsed() < Duration::from_millis(1_500));
}

#[tokio::test]
async fn handlers_see_the_callers_deadline() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    let reply = client
        .echo_with(
            ping("x"),
            CallOptions::default().deadline(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert!(
        (4_000..=5_000).contains(&reply.message.deadline_ms),
        "{}",
        reply.message.deadline_ms
    );
    let reply = client.echo(ping("x")).await.unwrap();
    assert_eq!(reply.deadline_ms, 0, "no deadline given, none seen");
}

#[tokio::test]
async fn a_call_made_inside_a_handler_inherits_the_remaining_deadline() {
    let backend = start(ProbeImpl::default()).await;
    let middle = start(ProbeImpl {
        downstream: Some(backend.client().await),
        ..ProbeImpl::default()
    })
    .await;
    let client = middle.client().await;

    // The backend sees (less than) what is left of the caller's 3 s.
    let reply = client
        .relay_with(
            ping("hop"),
            CallOptions::default().deadline(Duration::from_secs(3)),
        )
        .await
        .unwrap();
    assert!(
        (1..=3_000).contains(&reply.message.deadline_ms),
        "backend saw {} ms",
        reply.message.deadline_ms
    );
}

#[tokio::test]
async fn when_the_callers_deadline_passes_the_backends_work_stops_too() {
    // The middle hop relays a `hang` of 3 s; the caller gives 200 ms. The backend's handler
    // must be dropped long before its 3 s are up (by its own propagated deadline, or by the
    // middle hop cancelling its call): no hop keeps working for a caller that has gone.
    let backend_impl = ProbeImpl::default();
    let cancelled = std::sync::Arc::clone(&backend_impl.cancelled);
    let backend = start(backend_impl).await;
    let middle = start(ProbeImpl {
        downstream: Some(backend.client().await),
        ..ProbeImpl::default()
    })
    .await;
    let client = middle.client().await;
    let mut slow = ping("hang");
    slow.sleep_ms = 3_000;
    let err = client
        .relay_with(
            slow,
            CallOptions::default().deadline(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    let started = Instant::now();
    while !cancelled.load(std::sync::atomic::Ordering::SeqCst)
        && started.elapsed() < Duration::from_millis(1_500)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        cancelled.load(std::sync::atomic::Ordering::SeqCst),
        "the backend's handler still ran {:?} after the caller's deadline",
        started.elapsed()
    );
}
