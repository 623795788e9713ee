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
    // The client's own timer is generous; the server's, from grpc-timeout, fires first.
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    let mut slow = ping("slow");
    slow.sleep_ms = 2_000;
    let err = client.short(slow).await.unwrap_err();
    // `short` has a default deadline of 100 ms and the caller sent none.
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(err.message().contains("deadline passed"), "{err}");
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

    // And a slow backend fails the whole chain at the caller's deadline, not later.
    let mut slow = ping("slow");
    slow.sleep_ms = 3_000;
    let started = Instant::now();
    let err = client
        .relay_with(
            slow,
            CallOptions::default().deadline(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(started.elapsed() < Duration::from_millis(1_500));
}
