//! A probe service and helpers to run it on a real TCP server at 127.0.0.1:0.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use arpc::server::PoolConfig;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Ping {
    pub text: String,
    /// Bytes of padding the reply carries.
    pub reply_size: u32,
    /// How long the handler waits (ms).
    pub sleep_ms: u32,
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Pong {
    pub text: String,
    pub padding: String,
    /// The deadline the handler saw, in ms from when it started (0: none).
    pub deadline_ms: u64,
    /// The codec the request arrived in, as the handler saw it.
    pub request_codec: String,
}

#[arpc::service(package = "probe.v1")]
pub trait Probe {
    async fn echo(&self, ping: Ping) -> Result<Pong, arpc::Status>;

    #[arpc(codec(small = "postcard", large = "json", threshold = 4096))]
    async fn sized(&self, ping: Ping) -> Result<Pong, arpc::Status>;

    async fn hang(&self, ping: Ping) -> Result<Pong, arpc::Status>;

    async fn boom(&self, ping: Ping) -> Result<Pong, arpc::Status>;

    /// Calls `echo` on the downstream server (`hang` for a ping saying "hang"), making no
    /// deadline choice of its own.
    async fn relay(&self, ping: Ping) -> Result<Pong, arpc::Status>;

    fn write(&self, ping: Ping) -> Result<Pong, arpc::Status>;

    #[arpc(deadline_ms = 100)]
    async fn short(&self, ping: Ping) -> Result<Pong, arpc::Status>;

    /// `echo` with a message limit of its own: 512 bytes each way.
    #[arpc(max_message_bytes = 512)]
    async fn small(&self, ping: Ping) -> Result<Pong, arpc::Status>;
}

#[derive(Default)]
pub struct ProbeImpl {
    pub downstream: Option<ProbeClient>,
    /// Set when a `hang` handler is dropped before finishing.
    pub cancelled: Arc<AtomicBool>,
    pub hang_started: Arc<Notify>,
    pub writes: AtomicUsize,
}

fn pong(ping: &Ping) -> Pong {
    let ctx = arpc::Context::current().expect("handlers have a context");
    Pong {
        text: ping.text.clone(),
        padding: "p".repeat(ping.reply_size as usize),
        deadline_ms: ctx
            .remaining()
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        request_codec: ctx.request_codec().to_string(),
    }
}

struct DropFlag(Arc<AtomicBool>, bool);
impl Drop for DropFlag {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

impl Probe for ProbeImpl {
    async fn echo(&self, ping: Ping) -> Result<Pong, arpc::Status> {
        if ping.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(ping.sleep_ms.into())).await;
        }
        Ok(pong(&ping))
    }

    async fn sized(&self, ping: Ping) -> Result<Pong, arpc::Status> {
        Ok(pong(&ping))
    }

    async fn hang(&self, ping: Ping) -> Result<Pong, arpc::Status> {
        let mut flag = DropFlag(Arc::clone(&self.cancelled), false);
        self.hang_started.notify_one();
        tokio::time::sleep(Duration::from_millis(ping.sleep_ms.into())).await;
        flag.1 = true;
        Ok(pong(&ping))
    }

    async fn boom(&self, ping: Ping) -> Result<Pong, arpc::Status> {
        if ping.text == "panic" {
            panic!("the probe was asked to panic");
        }
        Ok(pong(&ping))
    }

    async fn relay(&self, ping: Ping) -> Result<Pong, arpc::Status> {
        let downstream = self
            .downstream
            .as_ref()
            .ok_or_else(|| arpc::Status::failed_precondition("no downstream"))?;
        if ping.text == "hang" {
            downstream.hang(ping).await
        } else {
            downstream.echo(ping).await
        }
    }

    fn write(&self, ping: Ping) -> Result<Pong, arpc::Status> {
        std::thread::sleep(Duration::from_millis(ping.sleep_ms.into()));
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        // Blocking handlers set response metadata through the same ambient context.
        if let Some(ctx) = arpc::Context::current() {
            let mut meta = ctx.response_metadata();
            meta.headers.insert("x-pool", "blocking".parse().unwrap());
            meta.trailers
                .insert("x-writes", n.to_string().parse().unwrap());
        }
        Ok(pong(&ping))
    }

    async fn short(&self, ping: Ping) -> Result<Pong, arpc::Status> {
        self.echo(ping).await
    }

    async fn small(&self, ping: Ping) -> Result<Pong, arpc::Status> {
        self.echo(ping).await
    }
}

/// A running server; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn client(&self) -> ProbeClient {
        ProbeClient::connect(self.uri()).await.expect("connect")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start(service: ProbeImpl) -> Running {
    start_with(Arc::new(service), PoolConfig::default()).await
}

pub async fn start_with(service: Arc<ProbeImpl>, pool: PoolConfig) -> Running {
    start_server(ProbeServer::from_arc(service), pool).await
}

/// A server whose write handlers run on `pool`, which the test keeps a handle to.
pub async fn start_with_pool(service: Arc<ProbeImpl>, pool: arpc::server::BlockingPool) -> Running {
    start_server(
        ProbeServer::from_arc(service).with_blocking_pool(pool),
        PoolConfig::default(),
    )
    .await
}

/// Serves what `builder` holds on 127.0.0.1:0 until the returned handle is dropped.
pub async fn serve<L>(builder: arpc::server::ServerBuilder<L>) -> Running
where
    L: tower::Layer<arpc::server::Router, Service: arpc::server::Served> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        builder
            .shutdown_grace(Duration::from_secs(1))
            .serve_with_incoming(listener, async {
                let _ = stopped.await;
            }),
    );
    Running {
        addr,
        stop: Some(stop),
    }
}

async fn start_server(server: ProbeServer<ProbeImpl>, pool: PoolConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        arpc::Server::builder()
            .blocking_pool(pool)
            .shutdown_grace(Duration::from_secs(1))
            .add_service(server)
            .serve_with_incoming(listener, async {
                let _ = stopped.await;
            }),
    );
    Running {
        addr,
        stop: Some(stop),
    }
}

pub fn ping(text: &str) -> Ping {
    Ping {
        text: text.into(),
        reply_size: 0,
        sleep_ms: 0,
    }
}

/// `ping(text)` in protobuf, unframed.
pub fn proto_ping(text: &str) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    arpc::codec::CodecKind::Proto
        .encode(&ping(text), &mut buf)
        .unwrap();
    buf.to_vec()
}

/// `ping` with `sleep_ms`, in protobuf, unframed.
pub fn proto_ping_sleeping(text: &str, sleep_ms: u32) -> Vec<u8> {
    let mut p = ping(text);
    p.sleep_ms = sleep_ms;
    let mut buf = bytes::BytesMut::new();
    arpc::codec::CodecKind::Proto.encode(&p, &mut buf).unwrap();
    buf.to_vec()
}

/// A gRPC message frame around `msg` (uncompressed).
pub fn frame(msg: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    v.extend_from_slice(msg);
    v
}

/// A bare HTTP/2 POST through hyper with exactly `headers` (plus `te: trailers`), to send
/// what arpc's own client never would; no timer of its own. The status, the headers with the
/// trailers merged in, and the body.
pub async fn raw_request(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, http::HeaderMap, Vec<u8>) {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut request = http::Request::post(format!("http://{addr}{path}")).header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(bytes::Bytes::copy_from_slice(body)))
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let mut headers = response.headers().clone();
    let collected = response.into_body().collect().await.unwrap();
    if let Some(trailers) = collected.trailers() {
        headers.extend(trailers.clone());
    }
    (status, headers, collected.to_bytes().to_vec())
}

/// A user's authentication layer: calls without `authorization: Bearer <token>` are refused
/// with `UNAUTHENTICATED` before any service sees them.
#[derive(Clone)]
pub struct RequireToken<S> {
    inner: S,
    token: &'static str,
}

impl<S> tower::Service<http::Request<arpc::server::RequestBody>> for RequireToken<S>
where
    S: tower::Service<
            http::Request<arpc::server::RequestBody>,
            Response = http::Response<arpc::server::ResponseBody>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<arpc::server::ResponseBody>;
    type Error = arpc::Status;
    type Future = futures_util::future::BoxFuture<'static, Result<Self::Response, arpc::Status>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), arpc::Status>> {
        self.inner.poll_ready(cx).map_err(|never| match never {})
    }

    fn call(&mut self, request: http::Request<arpc::server::RequestBody>) -> Self::Future {
        let expected = format!("Bearer {}", self.token);
        let allowed = request
            .headers()
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == expected.as_bytes());
        if !allowed {
            return Box::pin(async {
                Err(arpc::Status::unauthenticated("a bearer token is required"))
            });
        }
        let future = self.inner.call(request);
        Box::pin(async move { future.await.map_err(|never| match never {}) })
    }
}

pub fn require_token(
    token: &'static str,
) -> impl tower::Layer<arpc::server::Router, Service = RequireToken<arpc::server::Router>> + Clone {
    tower::layer::layer_fn(move |inner| RequireToken { inner, token })
}
