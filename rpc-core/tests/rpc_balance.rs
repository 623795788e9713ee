//! A balanced channel over a static list holding one live server and one dead address: an
//! idempotent read that hits the dead one is retried on the live one and succeeds; a write
//! (not idempotent) is never sent twice, so one that hits the dead address fails with
//! UNAVAILABLE. Each attempt uses a fresh channel, so nothing is ejected yet and both
//! addresses are equally likely; 24 attempts make a false pass a 2^-24 event. The same
//! holds for an instance that breaks the connection after its response's headers.

mod rpc_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arpc::Code;
use arpc::registry::Static;
use futures_util::StreamExt;
use rpc_support::*;

/// An address nothing listens on (bound, then released).
fn dead_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// 24 writes, each from a fresh client: how many succeeded, and how many failed with
/// UNAVAILABLE (any other failure fails the test).
async fn writes(registry: &Static) -> (usize, usize) {
    let (mut ok, mut unavailable) = (0, 0);
    for _ in 0..24 {
        let client = ProbeClient::discover(registry);
        match client.write(ping("write")).await {
            Ok(_) => ok += 1,
            Err(status) if status.code() == Code::Unavailable => unavailable += 1,
            Err(status) => panic!("a write failed with {status}"),
        }
    }
    (ok, unavailable)
}

#[tokio::test]
async fn reads_fail_over_and_writes_are_not_retried() {
    let probe = Arc::new(ProbeImpl::default());
    let server = start_with(Arc::clone(&probe), arpc::server::PoolConfig::default()).await;
    let registry = Static::new([dead_addr(), server.addr]);

    for _ in 0..24 {
        let client = ProbeClient::discover(&registry);
        let reply = client.echo(ping("read")).await;
        assert!(reply.is_ok(), "a read failed: {reply:?}");
    }

    let (ok, unavailable) = writes(&registry).await;
    assert!(unavailable > 0, "no write ever hit the dead address");
    assert!(ok > 0, "no write ever reached the server");
    // Every successful write ran exactly once on the server.
    assert_eq!(probe.writes.load(Ordering::SeqCst), ok);
}

#[tokio::test]
async fn a_failing_instance_is_ejected() {
    let server = start(ProbeImpl::default()).await;
    let registry = Static::new([dead_addr(), server.addr]);
    let client = ProbeClient::discover(&registry);
    // Writes are not retried, so every failure below is a pick of the dead address. Without
    // ejection about half of 40 writes would fail (20 ± 3); with it, the dead address is
    // avoided for 250 ms after a failure, doubling with each further one, so only a very
    // slow machine sees it more than once or twice.
    let mut failures = 0;
    for _ in 0..40 {
        if client.write(ping("w")).await.is_err() {
            failures += 1;
        }
    }
    assert!(
        failures <= 3,
        "{failures} of 40 writes went to the dead address"
    );
    assert_eq!(client.channel().instances().len(), 2);
    // Each failed write ejected the dead instance once; writes are never retried.
    let stats = client.channel().stats();
    assert_eq!(stats.ejections, failures, "{stats:?}");
    assert_eq!(stats.retries + stats.retry_budget_refusals, 0, "{stats:?}");
}

#[tokio::test]
async fn an_empty_registry_answers_unavailable_within_the_deadline() {
    let client = ProbeClient::discover(&Static::new([]));
    let started = std::time::Instant::now();
    let err = client
        .echo_with(
            ping("nobody"),
            arpc::CallOptions::default().deadline(std::time::Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    // The reason is that nothing is there to call, whichever timer notices first.
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.message().contains("no instance"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

/// A discovery whose stream reports when it is dropped.
#[derive(Debug, Default)]
struct Watched(Arc<std::sync::atomic::AtomicBool>);

struct SetOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl arpc::registry::Discovery for Watched {
    fn discover(&self, _service: &str) -> arpc::registry::Changes {
        let guard = SetOnDrop(Arc::clone(&self.0));
        Box::pin(futures_util::stream::pending().map(move |x| {
            let _ = &guard;
            x
        }))
    }
}

#[tokio::test]
async fn dropping_the_last_client_stops_watching_the_registry() {
    let discovery = Watched::default();
    let client = ProbeClient::discover(&discovery);
    let copy = client.clone();
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!discovery.0.load(Ordering::SeqCst), "a clone still uses it");
    drop(copy);
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !discovery.0.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < give_up,
            "the watch outlived every client"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A server layer that answers every call `UNAVAILABLE` before it reaches a handler (as a
/// server shutting down does), counting the calls.
#[derive(Clone)]
struct RefuseAll(Arc<std::sync::atomic::AtomicUsize>);

impl<S> tower::Layer<S> for RefuseAll {
    type Service = RefuseAll;

    fn layer(&self, _inner: S) -> RefuseAll {
        self.clone()
    }
}

impl tower::Service<http::Request<arpc::server::RequestBody>> for RefuseAll {
    type Response = http::Response<arpc::server::ResponseBody>;
    type Error = arpc::Status;
    type Future = std::future::Ready<Result<Self::Response, arpc::Status>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), arpc::Status>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<arpc::server::RequestBody>) -> Self::Future {
        self.0.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Err(arpc::Status::unavailable("refusing everything")))
    }
}

#[tokio::test]
async fn a_failing_cluster_gets_retries_within_the_budget_only() {
    // Two instances that refuse every call with UNAVAILABLE: without a budget, each of 1,000
    // idempotent reads would be sent twice (2,000 calls). The budget allows 10 retries a
    // second over its 10 s window (100) plus a fifth of the calls (200).
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut addrs = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        tokio::spawn(
            arpc::Server::builder()
                .add_service(ProbeServer::new(ProbeImpl::default()))
                .layer(RefuseAll(Arc::clone(&refused)))
                .serve_with_incoming(listener, async {
                    let _ = stopped.await;
                }),
        );
    }
    let client = ProbeClient::discover(&Static::new(addrs));
    let started = std::time::Instant::now();
    let calls = 1_000;
    for _ in 0..calls {
        let status = client.echo(ping("read")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status}");
    }
    let elapsed = started.elapsed();
    let sent = refused.load(Ordering::Relaxed);
    // The channel counts what reached the cluster: every retry it sent, and a refusal for
    // every call the budget kept from a second attempt.
    let stats = client.channel().stats();
    assert_eq!(stats.retries, sent as u64 - calls, "{stats:?}");
    assert_eq!(
        stats.retries + stats.retry_budget_refusals,
        calls,
        "{stats:?}"
    );
    if elapsed < std::time::Duration::from_secs(9) {
        // All within one budget window: 1,000 first attempts and 300 (±1 for rounding) retries.
        assert!(
            (1_299..=1_300).contains(&sent),
            "{sent} calls reached the cluster"
        );
    } else {
        // A very slow machine: the reserve renewed part-way; still far below 2,000.
        assert!(
            sent < 1_500,
            "{sent} calls reached the cluster in {elapsed:?}"
        );
    }
    drop(stops);
}

/// A server that answers each connection's first call with the response's headers only,
/// then closes the connection: an instance killed between its headers and its message.
/// Counts the calls it cut.
async fn cut_after_headers(cut: Arc<std::sync::atomic::AtomicUsize>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let cut = Arc::clone(&cut);
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else {
                    return;
                };
                if let Some(Ok((_, mut respond))) = connection.accept().await {
                    let headers = http::Response::builder()
                        .header("content-type", "application/grpc")
                        .body(())
                        .unwrap();
                    if respond.send_response(headers, false).is_ok() {
                        cut.fetch_add(1, Ordering::Relaxed);
                    }
                    // Drive the connection long enough to write the headers, then drop it.
                    let flush = std::future::poll_fn(|cx| connection.poll_closed(cx));
                    let _ = tokio::time::timeout(std::time::Duration::from_millis(50), flush).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_read_cut_off_after_its_headers_is_retried_and_a_cut_write_is_unavailable() {
    // One instance answers headers and then breaks the connection, the other is live. A
    // read (idempotent) is read to its end by the channel before the call sees it, so a
    // cut one goes to the live instance; a write is never sent twice and fails with
    // UNAVAILABLE (a broken connection), not INTERNAL. Fresh clients each time, so both
    // instances are equally likely to be picked first; 24 reads make a false pass 2^-24.
    let cut = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let probe = Arc::new(ProbeImpl::default());
    let server = start_with(Arc::clone(&probe), arpc::server::PoolConfig::default()).await;
    let registry = Static::new([cut_after_headers(Arc::clone(&cut)).await, server.addr]);

    let mut retries = 0;
    for _ in 0..24 {
        let client = ProbeClient::discover(&registry);
        let reply = client.echo(ping("read")).await;
        assert!(reply.is_ok(), "a read failed: {reply:?}");
        retries += client.channel().stats().retries;
    }
    let cut_reads = cut.load(Ordering::Relaxed) as u64;
    assert!(cut_reads > 0, "no read was cut");
    assert_eq!(retries, cut_reads, "every cut read went once more");

    let (ok, unavailable) = writes(&registry).await;
    assert!(unavailable > 0, "no write was cut");
    assert!(ok > 0, "no write reached the live server");
    assert_eq!(probe.writes.load(Ordering::SeqCst), ok);
}
