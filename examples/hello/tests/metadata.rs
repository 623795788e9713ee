//! Response metadata set by handlers (`arpc::Context::response_metadata`) reaches an arpc
//! client: initial metadata in the response headers, trailing metadata in the trailers, and
//! both in an error's trailers-only response.

use arpc::{CallOptions, Code, Server};
use arpc_example_hello::{
    ECHO_INITIAL, ECHO_TRAILING, EchoRequest, EchoStatus, GreeterClient, GreeterServer, Hello,
};
use tokio::net::TcpListener;

async fn start() -> (GreeterClient, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        Server::builder()
            .add_service(GreeterServer::new(Hello::default()))
            .serve_with_incoming(listener, async {
                let _ = stopped.await;
            }),
    );
    let client = GreeterClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    (client, stop)
}

fn echo_options() -> CallOptions {
    let mut options = CallOptions::default()
        .metadata(ECHO_INITIAL, "first")
        .expect("a valid entry");
    options.metadata.insert_bin(
        ECHO_TRAILING,
        arpc::metadata::MetadataValue::from_bytes(b"\x00\xff"),
    );
    options
}

#[tokio::test]
async fn handler_metadata_reaches_the_client() {
    let (client, _stop) = start().await;
    let request = EchoRequest {
        response_size: 3,
        ..EchoRequest::default()
    };
    let reply = client.echo_with(request, echo_options()).await.unwrap();
    assert_eq!(reply.message.payload.len(), 3);
    assert_eq!(reply.headers.get(ECHO_INITIAL).unwrap(), "first");
    let trailing = reply.trailers.get_bin(ECHO_TRAILING).unwrap();
    assert_eq!(trailing.to_bytes().unwrap().as_ref(), b"\x00\xff");
    // Nothing set, nothing sent.
    let plain = client
        .echo_with(EchoRequest::default(), CallOptions::default())
        .await
        .unwrap();
    assert!(plain.headers.get(ECHO_INITIAL).is_none());
    assert!(plain.trailers.get_bin(ECHO_TRAILING).is_none());
}

#[tokio::test]
async fn an_error_carries_the_handler_metadata() {
    let (client, _stop) = start().await;
    let request = EchoRequest {
        status: Some(EchoStatus {
            code: Code::Aborted as i32,
            message: "try again".into(),
        }),
        ..EchoRequest::default()
    };
    let status = client.echo_with(request, echo_options()).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "try again");
    assert_eq!(status.metadata().get(ECHO_INITIAL).unwrap(), "first");
    assert!(status.metadata().get_bin(ECHO_TRAILING).is_some());
}

#[test]
fn metadata_that_cannot_be_sent_is_an_error_not_a_silent_drop() {
    let bad_value = CallOptions::default().metadata("x-name", "caf\u{e9}");
    assert!(
        bad_value.unwrap_err().to_string().contains("x-name"),
        "names the key"
    );
    assert!(CallOptions::default().metadata("X Bad Key", "v").is_err());
    assert!(CallOptions::default().metadata("x-blob-bin", "v").is_err());
    let ok = CallOptions::default().metadata("x-name", "cafe").unwrap();
    assert_eq!(ok.metadata.get("x-name").unwrap(), "cafe");
}
