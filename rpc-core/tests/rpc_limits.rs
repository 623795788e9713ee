//! Size limits and failures: RESOURCE_EXHAUSTED for oversized messages (limits per server,
//! per service and per method), INTERNAL for panics (and the server goes on serving).

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
async fn a_server_wide_limit_applies_to_every_method_without_its_own() {
    let server = serve(
        arpc::Server::builder()
            .max_message_bytes(1024)
            .add_service(ProbeServer::new(ProbeImpl::default())),
    )
    .await;
    let client = server.client().await;
    let err = client.echo(ping(&"x".repeat(2000))).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("1024"), "{err}");
    let mut p = ping("big reply");
    p.reply_size = 2000;
    let err = client.echo(p).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    // Under the limit all is well; `small` keeps its own 512-byte limit.
    assert_eq!(
        client
            .echo(ping(&"x".repeat(900)))
            .await
            .unwrap()
            .text
            .len(),
        900
    );
    let err = client.small(ping(&"x".repeat(600))).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
}

#[tokio::test]
async fn a_methods_own_limit_wins_over_the_servers() {
    // The server allows 128 bytes; `small` says 512 for itself.
    let server = serve(
        arpc::Server::builder()
            .max_message_bytes(128)
            .add_service(ProbeServer::new(ProbeImpl::default())),
    )
    .await;
    let client = server.client().await;
    let text = "x".repeat(300);
    assert_eq!(client.small(ping(&text)).await.unwrap().text, text);
    let err = client.echo(ping(&text)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
}

#[tokio::test]
async fn a_services_limits_can_be_raised_and_lowered() {
    // Above the 4 MiB default for one service, and below it for its responses.
    let server = serve(
        arpc::Server::builder().add_service(
            ProbeServer::new(ProbeImpl::default())
                .max_request_bytes(6 * 1024 * 1024)
                .max_response_bytes(1000),
        ),
    )
    .await;
    let client = server.client().await;
    assert_eq!(client.echo(ping("fits")).await.unwrap().text, "fits");
    let err = client
        .echo(ping(&"x".repeat(5 * 1024 * 1024)))
        .await
        .unwrap_err();
    // The 5 MiB request got in; its echo is over the response limit.
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("response message"), "{err}");
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
