//! End-to-end unary calls over loopback TCP, side by side in one process and one run:
//! arpc in each codec, tonic + prost (a hand-written service, as tonic-build would generate),
//! and tarpc (its serde transport over TCP, MessagePack frames).
//!
//! `cargo bench -p arpc-benches --bench rpc` writes `target/arpc-bench/rpc.json` and the
//! table in `benches/README.md`. For each payload shape and size and each concurrency (1 and
//! 32 callers on one connection), every subject runs for the same time, in turn; reported are
//! calls per second and p50/p99 latency. The service echoes its request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arpc::codec::{CodecKind, CodecSet};
use arpc::{CallOptions, Status};
use arpc_benches::payloads::{self, DisplayScreen, NumericBatch, PDisplayScreen, PNumericBatch};
use arpc_benches::report::{self, fmt_bytes};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde_json::json;
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------
// The service, three ways.

#[arpc::service(package = "bench.v1")]
trait Echo {
    async fn numeric(&self, batch: NumericBatch) -> Result<NumericBatch, Status>;
    async fn display(&self, screen: DisplayScreen) -> Result<DisplayScreen, Status>;
}

struct ArpcEcho;

impl Echo for ArpcEcho {
    async fn numeric(&self, batch: NumericBatch) -> Result<NumericBatch, Status> {
        Ok(batch)
    }
    async fn display(&self, screen: DisplayScreen) -> Result<DisplayScreen, Status> {
        Ok(screen)
    }
}

#[tarpc::service]
trait TarpcEcho {
    async fn numeric(batch: NumericBatch) -> NumericBatch;
    async fn display(screen: DisplayScreen) -> DisplayScreen;
}

#[derive(Clone)]
struct TarpcServer;

impl TarpcEcho for TarpcServer {
    async fn numeric(self, _: tarpc::context::Context, batch: NumericBatch) -> NumericBatch {
        batch
    }
    async fn display(self, _: tarpc::context::Context, screen: DisplayScreen) -> DisplayScreen {
        screen
    }
}

/// What tonic-build generates for a two-method unary service, written out.
#[derive(Clone)]
struct TonicEcho;

impl tonic::server::NamedService for TonicEcho {
    const NAME: &'static str = "bench.v1.Echo";
}

struct Unary;

impl<M: prost::Message + Default + Send + 'static> tonic::server::UnaryService<M> for Unary {
    type Response = M;
    type Future = std::future::Ready<Result<tonic::Response<M>, Status>>;
    fn call(&mut self, request: tonic::Request<M>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(request.into_inner())))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for TonicEcho {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            Ok(match request.uri().path() {
                "/bench.v1.Echo/Numeric" => {
                    let codec = tonic_prost::ProstCodec::<PNumericBatch, PNumericBatch>::default();
                    tonic::server::Grpc::new(codec).unary(Unary, request).await
                }
                "/bench.v1.Echo/Display" => {
                    let codec =
                        tonic_prost::ProstCodec::<PDisplayScreen, PDisplayScreen>::default();
                    tonic::server::Grpc::new(codec).unary(Unary, request).await
                }
                _ => Status::unimplemented("").into_http(),
            })
        })
    }
}

// ---------------------------------------------------------------------------------------
// Servers.

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

async fn start_arpc() -> SocketAddr {
    let (l, addr) = listener().await;
    tokio::spawn(
        arpc::Server::builder()
            .add_service(EchoServer::new(ArpcEcho))
            .serve_with_incoming(l, std::future::pending()),
    );
    addr
}

/// The arpc server with the Prometheus metrics layer on.
async fn start_arpc_metrics() -> SocketAddr {
    let (l, addr) = listener().await;
    let metrics = arpc::metrics::Metrics::new();
    tokio::spawn(
        arpc::Server::builder()
            .add_service(EchoServer::new(ArpcEcho))
            .metrics(&metrics)
            .serve_with_incoming(l, std::future::pending()),
    );
    addr
}

/// The arpc server with a user's empty tower layer (a pass-through `MapRequest`).
async fn start_arpc_layered() -> SocketAddr {
    let (l, addr) = listener().await;
    tokio::spawn(
        arpc::Server::builder()
            .add_service(EchoServer::new(ArpcEcho))
            .layer(tower::util::MapRequestLayer::new(
                |r: http::Request<arpc::server::RequestBody>| r,
            ))
            .serve_with_incoming(l, std::future::pending()),
    );
    addr
}

async fn start_tonic() -> SocketAddr {
    let (l, addr) = listener().await;
    // tonic's own `tcp_nodelay` applies only to listeners it binds: set it on each accepted
    // socket, as arpc's server does, or tonic pays Nagle's 40 ms on small responses.
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(l).map(|s| {
        s.inspect(|s| {
            let _ = s.set_nodelay(true);
        })
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(TonicEcho)
            .serve_with_incoming(incoming),
    );
    addr
}

async fn start_tarpc() -> SocketAddr {
    use tarpc::server::{BaseChannel, Channel};
    let mut incoming = tarpc::serde_transport::tcp::listen(
        "127.0.0.1:0",
        tokio_serde::formats::MessagePack::default,
    )
    .await
    .expect("tarpc listen");
    incoming.config_mut().max_frame_length(64 * 1024 * 1024);
    let addr = incoming.local_addr();
    tokio::spawn(async move {
        while let Some(Ok(transport)) = incoming.next().await {
            let channel = BaseChannel::with_defaults(transport);
            tokio::spawn(
                channel
                    .execute(TarpcServer.serve())
                    .for_each(|response| async move {
                        tokio::spawn(response);
                    }),
            );
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------
// Clients: one call of each subject.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Subject {
    Arpc(CodecKind),
    /// arpc-postcard against a server with the metrics layer.
    ArpcMetrics,
    /// arpc-postcard against a server with an empty user layer.
    ArpcLayered,
    /// arpc's client (protobuf) against the tonic server: the client's cost, isolated.
    ArpcClientTonicServer,
    Tonic,
    Tarpc,
}

impl Subject {
    fn name(self) -> String {
        match self {
            Subject::Arpc(c) => format!("arpc-{c}"),
            Subject::ArpcMetrics => "arpc-postcard+metrics".into(),
            Subject::ArpcLayered => "arpc-postcard+layer".into(),
            Subject::ArpcClientTonicServer => "arpc-client@tonic-server".into(),
            Subject::Tonic => "tonic-prost".into(),
            Subject::Tarpc => "tarpc-msgpack".into(),
        }
    }
}

const SUBJECTS: [Subject; 9] = [
    Subject::Arpc(CodecKind::Proto),
    Subject::Arpc(CodecKind::Postcard),
    Subject::ArpcMetrics,
    Subject::ArpcLayered,
    Subject::Arpc(CodecKind::MsgPack),
    Subject::Arpc(CodecKind::Json),
    Subject::ArpcClientTonicServer,
    Subject::Tonic,
    Subject::Tarpc,
];

#[derive(Clone)]
struct Clients {
    arpc: EchoClient,
    arpc_metrics: EchoClient,
    arpc_layered: EchoClient,
    arpc_to_tonic: EchoClient,
    tonic: tonic::client::Grpc<tonic::transport::Channel>,
    tarpc: TarpcEchoClient,
}

#[derive(Clone)]
enum Payload {
    Numeric(Arc<NumericBatch>, Arc<PNumericBatch>),
    Display(Arc<DisplayScreen>, Arc<PDisplayScreen>),
}

impl Payload {
    fn bytes(&self) -> usize {
        use arpc::Message;
        match self {
            Payload::Numeric(a, _) => a.proto_len(),
            Payload::Display(a, _) => a.proto_len(),
        }
    }
}

async fn call(clients: &mut Clients, subject: Subject, payload: &Payload) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let (subject, arpc) = match subject {
        Subject::ArpcMetrics => (Subject::Arpc(CodecKind::Postcard), &clients.arpc_metrics),
        Subject::ArpcLayered => (Subject::Arpc(CodecKind::Postcard), &clients.arpc_layered),
        Subject::ArpcClientTonicServer => (Subject::Arpc(CodecKind::Proto), &clients.arpc_to_tonic),
        other => (other, &clients.arpc),
    };
    let arpc = arpc.clone();
    match (subject, payload) {
        (Subject::Arpc(codec), Payload::Numeric(a, _)) => {
            let options = CallOptions::default()
                .codec(codec)
                .accept(CodecSet::only(codec));
            arpc.numeric_with((**a).clone(), options)
                .await
                .map(drop)
                .map_err(|e| err(&e))
        }
        (Subject::Arpc(codec), Payload::Display(a, _)) => {
            let options = CallOptions::default()
                .codec(codec)
                .accept(CodecSet::only(codec));
            arpc.display_with((**a).clone(), options)
                .await
                .map(drop)
                .map_err(|e| err(&e))
        }
        (Subject::Tonic, Payload::Numeric(_, p)) => {
            clients.tonic.ready().await.map_err(|e| err(&e))?;
            let codec = tonic_prost::ProstCodec::<PNumericBatch, PNumericBatch>::default();
            let path = http::uri::PathAndQuery::from_static("/bench.v1.Echo/Numeric");
            clients
                .tonic
                .unary(tonic::Request::new((**p).clone()), path, codec)
                .await
                .map(drop)
                .map_err(|e| err(&e))
        }
        (Subject::Tonic, Payload::Display(_, p)) => {
            clients.tonic.ready().await.map_err(|e| err(&e))?;
            let codec = tonic_prost::ProstCodec::<PDisplayScreen, PDisplayScreen>::default();
            let path = http::uri::PathAndQuery::from_static("/bench.v1.Echo/Display");
            clients
                .tonic
                .unary(tonic::Request::new((**p).clone()), path, codec)
                .await
                .map(drop)
                .map_err(|e| err(&e))
        }
        (Subject::Tarpc, Payload::Numeric(a, _)) => clients
            .tarpc
            .numeric(tarpc::context::current(), (**a).clone())
            .await
            .map(drop)
            .map_err(|e| err(&e)),
        (Subject::Tarpc, Payload::Display(a, _)) => clients
            .tarpc
            .display(tarpc::context::current(), (**a).clone())
            .await
            .map(drop)
            .map_err(|e| err(&e)),
        (Subject::ArpcMetrics | Subject::ArpcLayered | Subject::ArpcClientTonicServer, _) => {
            unreachable!("mapped above")
        }
    }
}

struct Measured {
    calls: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Measured {
    #[allow(clippy::cast_precision_loss)]
    fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// `concurrency` callers share the clients (one connection per subject) and call in a loop
/// until `duration` has passed.
async fn run(
    clients: &Clients,
    subject: Subject,
    payload: &Payload,
    concurrency: usize,
    duration: Duration,
) -> Measured {
    let start = Instant::now();
    let stop = start + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let mut clients = clients.clone();
            let payload = payload.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < stop {
                    let t = Instant::now();
                    if let Err(e) = call(&mut clients, subject, &payload).await {
                        panic!("{} failed: {e}", subject.name());
                    }
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("caller task"));
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Measured {
        calls: latencies.len(),
        elapsed,
        latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

struct Row {
    subject: Subject,
    shape: &'static str,
    size: &'static str,
    bytes: usize,
    concurrency: usize,
    calls_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

const SIZES: [(&str, usize); 4] = [
    ("64B", 64),
    ("1KiB", 1024),
    ("16KiB", 16 * 1024),
    ("256KiB", 256 * 1024),
];

fn main() {
    let bench = report::is_bench_run();
    let (warmup, duration, rounds) = if bench {
        (Duration::from_millis(200), Duration::from_millis(1000), 2)
    } else {
        (Duration::from_millis(20), Duration::from_millis(50), 1)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (rows, h2load) = runtime.block_on(async {
        let (arpc_addr, tonic_addr, tarpc_addr) = (start_arpc().await, start_tonic().await, start_tarpc().await);
        let arpc_client = |addr: SocketAddr| async move {
            EchoClient::new(
                arpc::Channel::connect(format!("http://{addr}"))
                    .await
                    .expect("arpc connect")
                    .max_response_bytes(64 * 1024 * 1024),
            )
        };
        let arpc = arpc_client(arpc_addr).await;
        let arpc_metrics = arpc_client(start_arpc_metrics().await).await;
        let arpc_layered = arpc_client(start_arpc_layered().await).await;
        let arpc_to_tonic = arpc_client(tonic_addr).await;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{tonic_addr}"))
            .expect("uri")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("tonic connect");
        let tonic = tonic::client::Grpc::new(channel).max_decoding_message_size(64 * 1024 * 1024);
        let mut connect = tarpc::serde_transport::tcp::connect(tarpc_addr, tokio_serde::formats::MessagePack::default);
        connect.config_mut().max_frame_length(64 * 1024 * 1024);
        let transport = connect.await.expect("tarpc connect");
        let tarpc = TarpcEchoClient::new(tarpc::client::Config::default(), transport).spawn();
        let clients = Clients {
            arpc,
            arpc_metrics,
            arpc_layered,
            arpc_to_tonic,
            tonic,
            tarpc,
        };

        let mut rows = Vec::new();
        // `cargo test` runs the smallest size only, as a smoke test.
        // ARPC_BENCH_QUICK=1 runs the smallest size too, without writing results.
        let quick = !bench || std::env::var_os("ARPC_BENCH_QUICK").is_some();
        let sizes = if quick { &SIZES[..1] } else { &SIZES[..] };
        let only = std::env::var("ARPC_BENCH_ONLY").ok();
        for &(size, target) in sizes {
            let n = payloads::numeric_at(target);
            let d = payloads::display_at(target);
            let cases = [
                ("numeric", Payload::Numeric(Arc::new(n.clone()), Arc::new(PNumericBatch::from(&n)))),
                ("display", Payload::Display(Arc::new(d.clone()), Arc::new(PDisplayScreen::from(&d)))),
            ];
            for (shape, payload) in cases {
                for concurrency in [1, 32] {
                    // Two rounds over all subjects; each keeps its better round, so a burst of
                    // load from elsewhere on a shared machine penalises no one subject.
                    let mut best: Vec<Option<Measured>> = SUBJECTS.iter().map(|_| None).collect();
                    for _round in 0..rounds {
                        for (i, subject) in SUBJECTS.into_iter().enumerate() {
                            // ARPC_BENCH_ONLY=<subject> runs one subject (to profile it).
                            if only.as_deref().is_some_and(|o| o != subject.name()) {
                                continue;
                            }
                            run(&clients, subject, &payload, concurrency, warmup).await;
                            let m = run(&clients, subject, &payload, concurrency, duration).await;
                            let better = best[i].as_ref().is_none_or(|b| m.rate() > b.rate());
                            if better {
                                best[i] = Some(m);
                            }
                        }
                    }
                    for (subject, m) in SUBJECTS.into_iter().zip(best) {
                        let Some(m) = m else { continue };
                        let row = Row {
                            subject,
                            shape,
                            size,
                            bytes: payload.bytes(),
                            concurrency,
                            calls_per_sec: m.rate(),
                            p50_us: percentile(&m.latencies, 0.50).as_secs_f64() * 1e6,
                            p99_us: percentile(&m.latencies, 0.99).as_secs_f64() * 1e6,
                        };
                        println!(
                            "{shape:<8} {size:<7} c={concurrency:<3} {:<14} {:>10.0} calls/s  p50 {:>8.1} µs  p99 {:>8.1} µs",
                            subject.name(),
                            row.calls_per_sec,
                            row.p50_us,
                            row.p99_us
                        );
                        rows.push(row);
                    }
                }
            }
        }
        // The servers alone, under a load generator that is neither of them.
        let h2load = if only.as_deref().is_none_or(|o| o == "h2load") {
            server_isolated(arpc_addr, tonic_addr, quick, rounds).await
        } else {
            Vec::new()
        };
        (rows, h2load)
    });
    if bench
        && std::env::var_os("ARPC_BENCH_QUICK").is_none()
        && std::env::var_os("ARPC_BENCH_ONLY").is_none()
        && let Err(e) = write_results(&rows, &h2load)
    {
        eprintln!("could not write rpc results: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------
// Server cost isolated: h2load (Debian's `nghttp2-client`) sends the same framed protobuf
// request that tonic's client sends, over one connection, to arpc's server and to tonic's.

/// One h2load run.
struct H2loadRow {
    server: &'static str,
    size: &'static str,
    streams: usize,
    requests_per_sec: f64,
}

/// Runs h2load against both servers, at 64 B and 1 KiB (the smallest size only when
/// `quick`), 1 and 32 streams on one connection, `rounds` times each; keeps each best round.
async fn server_isolated(
    arpc: SocketAddr,
    tonic: SocketAddr,
    quick: bool,
    rounds: usize,
) -> Vec<H2loadRow> {
    use prost::Message as _;
    let (warmup, seconds) = if quick {
        ("100ms", "500ms")
    } else {
        ("500ms", "2s")
    };
    let dir = report::results_dir();
    std::fs::create_dir_all(&dir).expect("results dir");
    let sizes = if quick { &SIZES[..1] } else { &SIZES[..2] };
    let mut out = Vec::new();
    for &(size, target) in sizes {
        let message = PNumericBatch::from(&payloads::numeric_at(target)).encode_to_vec();
        let mut framed = vec![0u8];
        framed.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
        framed.extend_from_slice(&message);
        let framed_len = framed.len();
        let body = dir.join(format!("h2load-numeric-{size}.bin"));
        std::fs::write(&body, &framed).expect("request body");
        for streams in [1, 32] {
            for (server, addr) in [("arpc", arpc), ("tonic", tonic)] {
                let mut best = 0.0_f64;
                for _ in 0..rounds {
                    let uri = format!("http://{addr}/bench.v1.Echo/Numeric");
                    let body = body.clone();
                    let rate = tokio::task::spawn_blocking(move || {
                        h2load(&uri, &body, framed_len, streams, warmup, seconds)
                    })
                    .await
                    .expect("h2load task");
                    best = best.max(rate);
                }
                println!(
                    "h2load   numeric {size:<7} streams={streams:<3} {server:<6} {best:>10.0} req/s"
                );
                out.push(H2loadRow {
                    server,
                    size,
                    streams,
                    requests_per_sec: best,
                });
            }
        }
    }
    out
}

/// One h2load run: requests per second, after checking that every request got HTTP 200 and
/// that the answers carried the echoed message (an error answer would carry no data).
fn h2load(
    uri: &str,
    body: &std::path::Path,
    framed_len: usize,
    streams: usize,
    warmup: &str,
    seconds: &str,
) -> f64 {
    let output = std::process::Command::new("h2load")
        .args(["--clients=1", "--threads=1"])
        .arg(format!("--max-concurrent-streams={streams}"))
        .arg(format!("--warm-up-time={warmup}"))
        .arg(format!("--duration={seconds}"))
        .arg("--data")
        .arg(body)
        .args([
            "--header",
            "content-type: application/grpc",
            "--header",
            "te: trailers",
        ])
        .arg(uri)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run h2load ({e}): install Debian's nghttp2-client (bash .ci/test does)")
        });
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "h2load failed: {text}");
    // "requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, 0 failed, ..."
    let requests = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no requests line in {text}"));
    assert!(
        requests.contains(" 0 failed, 0 errored"),
        "h2load saw failures: {requests}"
    );
    let codes = text
        .lines()
        .find(|l| l.starts_with("status codes:"))
        .unwrap_or_else(|| panic!("no status line in {text}"));
    assert!(
        codes.contains(" 0 3xx, 0 4xx, 0 5xx"),
        "not every answer was HTTP 200: {codes}"
    );
    // "requests: N total, N started, N done, ..." and
    // "traffic: 1.2MB (1234567) total, 12KB (12345) headers (space savings 90%), 470KB (470000) data"
    let done: f64 = requests
        .split(", ")
        .find_map(|p| p.strip_suffix(" done"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no done count in {requests}"));
    let data: f64 = text
        .lines()
        .find(|l| l.starts_with("traffic:"))
        .and_then(|l| l.split(", ").find(|p| p.ends_with(" data")))
        .and_then(|p| p.split_once('(')?.1.split_once(')')?.0.parse().ok())
        .unwrap_or_else(|| panic!("no data bytes in {text}"));
    #[allow(clippy::cast_precision_loss)]
    let expected = done * framed_len as f64;
    assert!(
        data >= 0.9 * expected,
        "{data} bytes of data for {done} answers of {framed_len} bytes: not echoes"
    );
    // "finished in 2.00s, 12345.50 req/s, 1.23MB/s"
    text.lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|r| r.strip_suffix(" req/s"))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no req/s in {text}"))
}

fn write_results(rows: &[Row], h2load: &[H2loadRow]) -> std::io::Result<()> {
    let machine = report::machine();
    let results: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "subject": r.subject.name(),
                "shape": r.shape,
                "size": r.size,
                "bytes": r.bytes,
                "concurrency": r.concurrency,
                "calls_per_sec": r.calls_per_sec,
                "p50_us": r.p50_us,
                "p99_us": r.p99_us,
            })
        })
        .collect();
    let servers: Vec<_> = h2load
        .iter()
        .map(|r| {
            json!({
                "server": r.server,
                "shape": "numeric",
                "size": r.size,
                "streams": r.streams,
                "requests_per_sec": r.requests_per_sec,
            })
        })
        .collect();
    let path = report::write_json(
        "rpc",
        &json!({ "machine": machine, "results": results, "h2load": servers }),
    )?;
    println!("wrote {}", path.display());
    report::splice_readme("rpc", &markdown(rows, h2load, &machine))?;
    println!("updated benches/README.md");
    Ok(())
}

fn markdown(rows: &[Row], h2load: &[H2loadRow], machine: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "Measured on: {machine}.\n");
    let _ = writeln!(
        out,
        "Ratios of calls per second in the same run (above 1: arpc is faster):\n"
    );
    let _ = writeln!(
        out,
        "| shape | size | callers | arpc-proto / tonic | best arpc / tonic | best arpc / tarpc | best arpc codec | postcard: metrics on / off | postcard: empty layer / none | clients at tonic's server: arpc / tonic |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let find = |shape: &str, size: &str, c: usize, s: Subject| {
        rows.iter()
            .find(|r| r.shape == shape && r.size == size && r.concurrency == c && r.subject == s)
    };
    for shape in ["numeric", "display"] {
        for (size, _) in SIZES {
            for c in [1, 32] {
                let (Some(proto), Some(tonic), Some(tarpc)) = (
                    find(shape, size, c, Subject::Arpc(CodecKind::Proto)),
                    find(shape, size, c, Subject::Tonic),
                    find(shape, size, c, Subject::Tarpc),
                ) else {
                    continue;
                };
                let Some(best) = SUBJECTS
                    .iter()
                    .filter(|s| matches!(s, Subject::Arpc(_)))
                    .filter_map(|s| find(shape, size, c, *s))
                    .max_by(|a, b| a.calls_per_sec.total_cmp(&b.calls_per_sec))
                else {
                    continue;
                };
                let postcard = find(shape, size, c, Subject::Arpc(CodecKind::Postcard));
                let versus = |s: Subject| match (find(shape, size, c, s), postcard) {
                    (Some(with), Some(without)) => {
                        format!("{:.3}", with.calls_per_sec / without.calls_per_sec)
                    }
                    _ => "–".into(),
                };
                let client = find(shape, size, c, Subject::ArpcClientTonicServer)
                    .map_or("–".into(), |a| {
                        format!("{:.2}", a.calls_per_sec / tonic.calls_per_sec)
                    });
                let _ = writeln!(
                    out,
                    "| {shape} | {size} ({}) | {c} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {client} |",
                    fmt_bytes(proto.bytes),
                    proto.calls_per_sec / tonic.calls_per_sec,
                    best.calls_per_sec / tonic.calls_per_sec,
                    best.calls_per_sec / tarpc.calls_per_sec,
                    best.subject.name(),
                    versus(Subject::ArpcMetrics),
                    versus(Subject::ArpcLayered),
                );
            }
        }
    }
    if !h2load.is_empty() {
        let _ = writeln!(
            out,
            "\nServers alone under h2load (one connection, numeric payload, requests/s; above 1: arpc's server is faster):\n"
        );
        let _ = writeln!(out, "| size | streams | arpc | tonic | arpc / tonic |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for a in h2load.iter().filter(|r| r.server == "arpc") {
            if let Some(t) = h2load
                .iter()
                .find(|r| r.server == "tonic" && r.size == a.size && r.streams == a.streams)
            {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.0} | {:.2} |",
                    a.size,
                    a.streams,
                    a.requests_per_sec,
                    t.requests_per_sec,
                    a.requests_per_sec / t.requests_per_sec
                );
            }
        }
    }
    let _ = writeln!(out, "\nAll runs:\n");
    let _ = writeln!(
        out,
        "| shape | size | callers | subject | calls/s | p50 | p99 |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} | {:.0} µs | {:.0} µs |",
            r.shape,
            r.size,
            r.concurrency,
            r.subject.name(),
            r.calls_per_sec,
            r.p50_us,
            r.p99_us
        );
    }
    out
}
