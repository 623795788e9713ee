//! A generated server mounted in other frameworks' routers, not `arpc::Server`: tonic's
//! `Routes` (served by tonic's own server) and axum's `Router` (served by hyper), each on a
//! real socket at 127.0.0.1:0, called by arpc's client (every codec, a read and a write) and
//! by Python grpcio (the interop virtualenv `bash .ci/test` sets up).

#[path = "../../../codegen/tests/support/mod.rs"]
mod support;

mod grpcio;

use std::net::SocketAddr;

use arpc::CallOptions;
use arpc::codec::{CodecKind, CodecSet};
use arpc_example_hello::{GreeterClient, GreeterServer, Hello, HelloRequest, Note};
use tokio::net::TcpListener;

/// Serves `GreeterServer` through tonic's server and `Routes`.
async fn serve_in_tonic() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = tonic::service::Routes::new(GreeterServer::new(Hello::serving_as("tonic")));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

/// Serves `GreeterServer` as a route of an axum `Router`, over hyper's HTTP/2.
async fn serve_in_axum() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route_service(
            "/hello.v1.Greeter/{*method}",
            GreeterServer::new(Hello::serving_as("axum")),
        );
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    addr
}

async fn arpc_client_calls(addr: SocketAddr, served_by: &str) {
    let client = GreeterClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    for codec in CodecKind::ALL {
        let reply = client
            .say_hello_with(
                HelloRequest {
                    name: codec.name().into(),
                    reply_padding: 2,
                    delay_ms: 0,
                },
                CallOptions::default()
                    .codec(codec)
                    .accept(CodecSet::only(codec)),
            )
            .await
            .unwrap();
        assert_eq!(reply.codec, codec);
        assert_eq!(reply.message.message, format!("Hello, {}!", codec.name()));
        assert_eq!(reply.message.served_by, served_by);
    }
    // A write runs on a blocking pool there too.
    let stored = client
        .store(Note {
            key: "k".into(),
            text: "mounted".into(),
            work_ms: 0,
        })
        .await
        .unwrap();
    assert_eq!(stored.count, 1);
}

fn grpcio_calls(addr: SocketAddr) {
    let Some(python) = support::python() else {
        return;
    };
    let stubs = support::tempdir();
    let cases = "empty_unary,say_hello,status_code_and_message,large_unary";
    let output = grpcio::run_client(&python, &stubs, &addr.to_string(), Some(cases));
    let _ = std::fs::remove_dir_all(&stubs);
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(
        grpcio::passed(&output),
        cases.split(',').collect::<Vec<_>>(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_server_mounts_in_tonics_routes() {
    let addr = serve_in_tonic().await;
    arpc_client_calls(addr, "tonic").await;
    tokio::task::spawn_blocking(move || grpcio_calls(addr))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_server_mounts_in_axum() {
    let addr = serve_in_axum().await;
    arpc_client_calls(addr, "axum").await;
    tokio::task::spawn_blocking(move || grpcio_calls(addr))
        .await
        .unwrap();
}
