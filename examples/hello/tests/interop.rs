//! A real third-party gRPC client against a real arpc server process: Python `grpcio`, with
//! stubs that `grpcio-tools` generates from the checked-in `proto/hello.v1.proto`, runs the
//! cases in `tests/interop/client.py` (named after the gRPC interop suite) against
//! `hello serve --addr 127.0.0.1:0`, among them large requests sent gzip- and
//! deflate-compressed. Also lists and describes the services through server reflection
//! (v1alpha and v1) and checks health.
//!
//! The other way round, arpc's generated client calls a real grpcio server
//! (`tests/interop/server.py`) in protobuf, with gzip both ways, and with zstd, which grpcio
//! lacks: refused once, sent again in the method's own compression (Echo's is gzip, which
//! grpcio reads), and sent so from then on without a refusal.
//!
//! Needs the interop virtualenv that `bash .ci/test` makes (it sets `ARPC_PYTHON`); a plain
//! `cargo test` without it skips, saying so.

#[path = "../../../codegen/tests/support/mod.rs"]
mod support;

mod grpcio;
mod hello_process;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arpc::CallOptions;
use arpc::client::CallRequest;
use arpc::codec::{CodecKind, Compression};
use arpc_example_hello::{EchoReply, EchoRequest, Empty, GreeterClient, HelloRequest};
use tower::ServiceExt;

/// Every case the client must report as passed.
const CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "gzip_unary",
    "deflate_unary",
    "say_hello",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "timeout_on_sleeping_server",
    "custom_metadata",
    "cancel_after_begin",
    "oversized_request",
    "health_check",
    "reflection_v1alpha_list_and_describe",
    "reflection_v1_list",
];

#[test]
fn python_grpcio_client_passes_the_interop_cases() {
    let Some(python) = support::python() else {
        return;
    };
    let stubs = support::tempdir();
    let server = hello_process::HelloProcess::start(&[]);
    let output = grpcio::run_client(&python, &stubs, &server.addr, None);
    drop(server);
    let _ = std::fs::remove_dir_all(&stubs);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    let failed: Vec<_> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        failed.is_empty(),
        "failed cases:\n{}\n{stderr}",
        failed.join("\n")
    );
    let passed = grpcio::passed(&output);
    for case in CASES {
        assert!(
            passed.iter().any(|p| p == case),
            "case `{case}` did not pass\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    assert!(
        output.status.success(),
        "the client exited with {}",
        output.status
    );
}

#[tokio::test]
async fn arpc_client_calls_a_grpcio_server_with_compression() {
    let Some(python) = support::python() else {
        return;
    };
    let stubs = support::tempdir();
    grpcio::generate_stubs(&python, &stubs);
    let server = grpcio::GrpcioServer::start(&python, &stubs);
    let client = GreeterClient::connect(format!("http://{}", server.addr))
        .await
        .expect("connects to the grpcio server");
    const ECHO: &str = "Echo";
    let mut expected_calls = Vec::new();

    // Protobuf, the codec every gRPC peer reads (the methods' default policy).
    client.ping(Empty {}).await.expect("Ping");
    expected_calls.push("Ping");
    let hello = client
        .say_hello_with(
            HelloRequest {
                name: "arpc".into(),
                reply_padding: 0,
                delay_ms: 0,
            },
            CallOptions::default(),
        )
        .await
        .expect("SayHello");
    expected_calls.push("SayHello");
    assert_eq!(hello.message.message, "Hello, arpc!");
    assert_eq!(hello.message.served_by, "grpcio");
    assert_eq!(hello.request_codec, CodecKind::Proto);
    assert_eq!(hello.codec, CodecKind::Proto);

    // grpcio compresses its responses with gzip (its server's default here); arpc reads them.
    let large = client
        .echo_with(
            EchoRequest {
                response_size: 200_000,
                ..EchoRequest::default()
            },
            CallOptions::default(),
        )
        .await
        .expect("a large Echo");
    expected_calls.push(ECHO);
    assert_eq!(large.message.payload.len(), 200_000);
    assert!(large.message.payload.starts_with(b"grpcio answers in text"));
    assert_eq!(large.compression, Compression::Gzip);

    // A request sent gzip-compressed: grpcio inflates it and echoes it back.
    let text: Vec<u8> = b"arpc sends text that compresses well. "
        .iter()
        .copied()
        .cycle()
        .take(150_000)
        .collect();
    let echoed = echo_text(&client, &text, Compression::Gzip)
        .await
        .expect("a gzip-compressed Echo");
    expected_calls.push(ECHO);
    assert_eq!(echoed.request_compression, Compression::Gzip);
    assert_eq!(echoed.message.payload, text);

    // zstd, which grpcio does not read. A client that has not yet heard what a server reads
    // assumes what every gRPC implementation reads (no zstd): forced zstd goes in the
    // method's own compression (Echo's is gzip), with no refusal. A layer records what each
    // attempt sent.
    let sent = Arc::new(Mutex::new(Vec::<String>::new()));
    let fresh = GreeterClient::connect(format!("http://{}", server.addr))
        .await
        .expect("connects to the grpcio server")
        .layer(tower::util::MapRequestLayer::new(recorder(&sent)));
    let echoed = echo_text(&fresh, &text, Compression::Zstd)
        .await
        .expect("an Echo forcing zstd");
    expected_calls.push(ECHO);
    assert_eq!(echoed.request_compression, Compression::Gzip);
    assert_eq!(echoed.message.payload, text);
    assert_eq!(std::mem::take(&mut *sent.lock().unwrap()), ["gzip"]);

    // A mixed fleet: a client whose first call went to an arpc server (which lists zstd) and
    // whose next goes to grpcio. grpcio refuses zstd its own way (INTERNAL, "Error parsing
    // 'grpc-encoding' metadata", before any handler runs, listing nothing); the client sends
    // it once more uncompressed, and it is served.
    let arpc_server = hello_process::HelloProcess::start(&[]);
    let to_arpc = arpc::Channel::connect(format!("http://{}", arpc_server.addr))
        .await
        .expect("connects to the arpc server");
    let to_grpcio = arpc::Channel::connect(format!("http://{}", server.addr))
        .await
        .expect("connects to the grpcio server");
    let calls_made = Arc::new(AtomicUsize::new(0));
    let first_to_arpc = tower::service_fn(move |call: CallRequest| {
        let channel = match calls_made.fetch_add(1, Ordering::Relaxed) {
            0 => to_arpc.clone(),
            _ => to_grpcio.clone(),
        };
        channel.oneshot(call)
    });
    let mixed = GreeterClient::with_transport(first_to_arpc)
        .layer(tower::util::MapRequestLayer::new(recorder(&sent)));
    mixed
        .echo(EchoRequest::default())
        .await
        .expect("an Echo served by arpc");
    let echoed = echo_text(&mixed, &text, Compression::Zstd)
        .await
        .expect("an Echo forcing zstd, served by grpcio");
    expected_calls.push(ECHO);
    assert_eq!(echoed.request_compression, Compression::Identity);
    assert_eq!(echoed.message.payload, text);
    assert_eq!(
        std::mem::take(&mut *sent.lock().unwrap()),
        ["identity", "zstd", "identity"]
    );
    drop(arpc_server);

    drop((client, fresh, mixed));
    let calls = server.stop();
    let _ = std::fs::remove_dir_all(&stubs);
    assert_eq!(
        calls, expected_calls,
        "the handlers that ran in grpcio, once per call"
    );
}

/// A request mapper that records each request's `grpc-encoding` (`identity` when it has none).
fn recorder(sent: &Arc<Mutex<Vec<String>>>) -> impl Fn(CallRequest) -> CallRequest + Clone {
    let sent = Arc::clone(sent);
    move |call: CallRequest| {
        let encoding = call
            .headers()
            .get("grpc-encoding")
            .map_or("identity", |v| v.to_str().unwrap_or("?"));
        sent.lock().unwrap().push(encoding.to_owned());
        call
    }
}

/// Echo with `text` as the payload, forcing the request's compression.
async fn echo_text<S: arpc::client::Transport>(
    client: &GreeterClient<S>,
    text: &[u8],
    compression: Compression,
) -> Result<arpc::client::Response<EchoReply>, arpc::Status> {
    let request = EchoRequest {
        payload: text.to_vec(),
        ..EchoRequest::default()
    };
    let options = CallOptions::default().compression(compression);
    client.echo_with(request, options).await
}
