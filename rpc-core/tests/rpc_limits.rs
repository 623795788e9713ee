//! Size limits and failures: RESOURCE_EXHAUSTED for oversized messages, INTERNAL for panics
//! (and the server goes on serving).

mod rpc_support;

use arpc::Code;
use rpc_support::*;

#[tokio::test]
async fn an_oversized_request_is_resource_exhausted() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    let big = ping(&"x".repeat(5 * 1024 * 1024));
    let err = client.echo(big).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("limit"), "{err}");
    // The connection and server are fine afterwards.
    assert_eq!(client.echo(ping("after")).await.unwrap().text, "after");
}

#[tokio::test]
async fn an_oversized_response_is_resource_exhausted() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    let mut p = ping("big reply");
    p.reply_size = 5 * 1024 * 1024;
    let err = client.echo(p).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
}

#[tokio::test]
async fn a_client_limit_on_responses_is_resource_exhausted() {
    let server = start(ProbeImpl::default()).await;
    let channel = arpc::Channel::connect(server.uri())
        .await
        .unwrap()
        .max_response_bytes(1_000);
    let client = ProbeClient::new(channel);
    let mut p = ping("medium reply");
    p.reply_size = 10_000;
    let err = client.echo(p).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
}

#[tokio::test]
async fn a_handler_panic_is_internal_and_the_server_keeps_serving() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    let err = client.boom(ping("panic")).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err}");
    assert!(err.message().contains("panicked"), "{err}");
    for i in 0..3 {
        let text = format!("still here {i}");
        assert_eq!(client.boom(ping(&text)).await.unwrap().text, text);
    }
}

#[tokio::test]
async fn handler_errors_travel_intact() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    // `relay` without a downstream fails with its own status and message.
    let err = client.relay(ping("x")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.message(), "no downstream");
}
