//! The server as a tower service: a whole server (services, health, reflection, layers) is
//! called with `oneshot`, no socket; a user's tower layer sees every call, in the order the
//! layers were added, and can refuse one with a status; the same layer works on a real
//! server, called by arpc's client.

mod rpc_support;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use arpc::codec::CodecKind;
use arpc::server::{RequestBody, ResponseBody};
use arpc::{CallOptions, Code};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rpc_support::*;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// A gRPC request for `path` with a framed protobuf body.
fn grpc_request(path: &str, message: &[u8]) -> http::Request<Full<Bytes>> {
    http::Request::post(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from(frame(message))))
        .unwrap()
}

/// The status and the message bytes of a response.
async fn read(response: http::Response<ResponseBody>) -> (Code, Bytes) {
    assert_eq!(response.status(), 200);
    let mut headers = response.headers().clone();
    let collected = response.into_body().collect().await.unwrap();
    if let Some(trailers) = collected.trailers() {
        headers.extend(trailers.clone());
    }
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from)
        .expect("a grpc-status");
    let body = collected.to_bytes();
    (
        code,
        if body.len() > 5 {
            body.slice(5..)
        } else {
            body
        },
    )
}

#[tokio::test]
async fn a_whole_server_answers_oneshot_calls_without_a_socket() {
    let server = arpc::Server::builder()
        .add_service(ProbeServer::new(ProbeImpl::default()))
        .into_service();

    let response = server
        .clone()
        .oneshot(grpc_request(
            "/probe.v1.Probe/Echo",
            &proto_ping("no socket"),
        ))
        .await
        .unwrap();
    let (code, body) = read(response).await;
    assert_eq!(code, Code::Ok);
    let pong: Pong = CodecKind::Proto.decode(body).unwrap();
    assert_eq!(pong.text, "no socket");

    // Health and reflection are part of the service, as they are of a served server.
    let (code, body) = read(
        server
            .clone()
            .oneshot(grpc_request("/grpc.health.v1.Health/Check", &[]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, Code::Ok);
    let health: arpc::health::HealthCheckResponse = CodecKind::Proto.decode(body).unwrap();
    assert_eq!(health.status, arpc::health::ServingStatus::Serving);

    let (code, _) = read(
        server
            .oneshot(grpc_request("/probe.v1.Probe/Nope", &[]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, Code::Unimplemented);
}

/// A layer that records `name` when a call passes it.
#[derive(Clone)]
struct Record {
    name: &'static str,
    log: Arc<Mutex<Vec<&'static str>>>,
}

#[derive(Clone)]
struct Recorded<S> {
    inner: S,
    layer: Record,
}

impl<S> tower::Layer<S> for Record {
    type Service = Recorded<S>;

    fn layer(&self, inner: S) -> Recorded<S> {
        Recorded {
            inner,
            layer: self.clone(),
        }
    }
}

impl<S: tower::Service<http::Request<RequestBody>>> tower::Service<http::Request<RequestBody>>
    for Recorded<S>
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> S::Future {
        self.layer.log.lock().unwrap().push(self.layer.name);
        self.inner.call(request)
    }
}

#[tokio::test]
async fn layers_see_every_call_first_added_outermost() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let record = |name| Record {
        name,
        log: Arc::clone(&log),
    };
    let server = arpc::Server::builder()
        .layer(record("outer"))
        .layer(record("inner"))
        .add_service(ProbeServer::new(ProbeImpl::default()))
        .into_service();
    for text in ["a", "b"] {
        let (code, _) = read(
            server
                .clone()
                .oneshot(grpc_request("/probe.v1.Probe/Echo", &proto_ping(text)))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, Code::Ok);
    }
    assert_eq!(*log.lock().unwrap(), ["outer", "inner", "outer", "inner"]);
}

#[tokio::test]
async fn a_layer_can_refuse_a_call_with_a_status() {
    let server = arpc::Server::builder()
        .layer(require_token("s3cret"))
        .add_service(ProbeServer::new(ProbeImpl::default()))
        .into_service();
    let (code, _) = read(
        server
            .clone()
            .oneshot(grpc_request("/probe.v1.Probe/Echo", &proto_ping("x")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, Code::Unauthenticated);
    let mut request = grpc_request("/probe.v1.Probe/Echo", &proto_ping("x"));
    request
        .headers_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    let (code, _) = read(server.oneshot(request).await.unwrap()).await;
    assert_eq!(code, Code::Ok);
}

#[tokio::test]
async fn a_layer_works_on_a_served_server_too() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        arpc::Server::builder()
            .layer(require_token("s3cret"))
            .add_service(ProbeServer::new(ProbeImpl::default()))
            .serve_with_incoming(listener, async {
                let _ = stopped.await;
            }),
    );
    let client = ProbeClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let err = client.echo(ping("anonymous")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    let options = CallOptions::default()
        .metadata("authorization", "Bearer s3cret")
        .unwrap();
    let reply = client.echo_with(ping("known"), options).await.unwrap();
    assert_eq!(reply.message.text, "known");
    let _ = stop.send(());
}
