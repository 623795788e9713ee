//! Discovery and failover end to end, against a real ZooKeeper (Debian's package, started by
//! `arpc_registry::testing::TestingServer`) and real `hello serve --registry zk://…` server
//! processes, under steady read load from a balanced client:
//!
//! 1. three servers register; the client discovers them and spreads calls over all three;
//! 2. one is killed with SIGKILL: its node goes within the session timeout, the client drops
//!    it, and no read fails (reads that hit it are retried on another instance);
//! 3. a fourth server joins and gets calls within a second of registering;
//! 4. ZooKeeper is killed: calls go on over the cached instances; ZooKeeper restarts: every
//!    live server's registration comes back without restarting it.
//!
//! Every wait is bounded; the load stops by itself.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arpc::CallOptions;
use arpc::registry::Registry;
use arpc::registry::testing::{self, TestingServer};
use arpc_example_hello::{GreeterClient, HelloRequest};

const SESSION: Duration = Duration::from_millis(2_000);

mod hello_process;

use hello_process::HelloProcess as Server;

/// A server announcing itself in the registry at `url`.
fn start_server(url: &str) -> Server {
    Server::start(&["--registry", url])
}

/// The addresses registered for the hello service, read from ZooKeeper.
async fn registered(zk: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for id in testing::list_children(zk, "/arpc/hello.v1.Greeter")
        .await
        .unwrap_or_default()
    {
        let path = format!("/arpc/hello.v1.Greeter/{id}");
        if let Some((data, _)) = testing::read_node(zk, &path).await
            && let Ok(instance) = arpc::registry::curator::from_json(&data)
        {
            out.insert(format!("{}:{}", instance.address, instance.port));
        }
    }
    out
}

/// Polls until `registered` equals `want`, for up to `limit`; the time it took.
async fn until_registered(zk: &str, want: &HashSet<String>, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if registered(zk).await == *want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// What the load saw: when each reply came (monotonic, and wall-clock milliseconds to compare
/// with ZooKeeper's registration times) and from whom, and every failure.
#[derive(Default)]
struct Log {
    replies: Vec<(Instant, u128, String)>,
    failures: Vec<String>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// When the instance at `addr` registered, by its node's `registrationTimeUTC`.
async fn registration_time(zk: &str, addr: &str) -> Option<u128> {
    for id in testing::list_children(zk, "/arpc/hello.v1.Greeter").await? {
        let (data, _) = testing::read_node(zk, &format!("/arpc/hello.v1.Greeter/{id}")).await?;
        let doc: serde_json::Value = serde_json::from_slice(&data).ok()?;
        if format!("{}:{}", doc["address"].as_str()?, doc["port"]) == addr {
            return doc["registrationTimeUTC"].as_u64().map(u128::from);
        }
    }
    None
}

/// Four callers, each calling `say_hello` back to back (2 s deadline) until `stop`.
fn start_load(
    client: &GreeterClient,
    stop: &Arc<AtomicBool>,
    log: &Arc<Mutex<Log>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..4)
        .map(|i| {
            let (client, stop, log) = (client.clone(), Arc::clone(stop), Arc::clone(log));
            tokio::spawn(async move {
                let give_up = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::Relaxed) && Instant::now() < give_up {
                    let request = HelloRequest {
                        name: format!("caller {i}"),
                        reply_padding: 0,
                        delay_ms: 0,
                    };
                    let options = CallOptions::default().deadline(Duration::from_secs(2));
                    let result = client.say_hello_with(request, options).await;
                    {
                        let mut log = log.lock().unwrap();
                        match result {
                            Ok(reply) => {
                                let by = reply.message.served_by;
                                log.replies.push((Instant::now(), now_ms(), by));
                            }
                            Err(status) => log.failures.push(status.to_string()),
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect()
}

fn replies_since(log: &Mutex<Log>, since: Instant) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (at, _, by) in &log.lock().unwrap().replies {
        if *at >= since {
            *out.entry(by.clone()).or_default() += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balanced_reads_survive_kills_joins_and_a_zookeeper_outage() {
    let mut zk = TestingServer::start(Duration::from_millis(100)).unwrap_or_else(|e| panic!("{e}"));
    let connect = zk.connect_string();
    let url = zk.url("/arpc", SESSION);

    // 1. Three servers register; the client finds and uses all three.
    let mut servers: Vec<Server> = (0..3).map(|_| start_server(&url)).collect();
    let mut live: HashSet<String> = servers.iter().map(|s| s.addr.clone()).collect();
    until_registered(&connect, &live, Duration::from_secs(15))
        .await
        .expect("three servers registered");
    let client = GreeterClient::discover(&Registry::from_url(&url).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let load = start_load(&client, &stop, &log);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let seen = replies_since(&log, t);
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        live,
        "calls should reach all three servers: {seen:?}"
    );

    // 2. SIGKILL one: its node goes within the session timeout (plus a margin for the
    //    server's own tick), the client drops it, and nothing fails.
    let victim = servers.remove(0);
    let victim_addr = victim.addr.clone();
    drop(victim);
    live.remove(&victim_addr);
    let gone_after = until_registered(&connect, &live, SESSION * 2 + Duration::from_secs(2))
        .await
        .expect("the killed server's node goes within the session timeout");
    println!("killed server's node gone after {gone_after:?}");
    let dropped = {
        let start = Instant::now();
        loop {
            if client.channel().instances().len() == 2 {
                break true;
            }
            if start.elapsed() > Duration::from_secs(2) {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    assert!(
        dropped,
        "the client still balances over {:?}",
        client.channel().instances()
    );
    let after_kill = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = replies_since(&log, after_kill);
    assert!(!seen.contains_key(&victim_addr));
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        live,
        "{seen:?}"
    );

    // 3. A fourth server joins under load and is called within a second of registering.
    let newcomer = start_server(&url);
    let newcomer_addr = newcomer.addr.clone();
    servers.push(newcomer);
    live.insert(newcomer_addr.clone());
    until_registered(&connect, &live, Duration::from_secs(15))
        .await
        .expect("the fourth server registered");
    // Its node says when it registered (written just before the node was created).
    let registered_at = registration_time(&connect, &newcomer_addr)
        .await
        .expect("the newcomer's registration time");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let first_call = log
        .lock()
        .unwrap()
        .replies
        .iter()
        .find(|(_, _, by)| *by == newcomer_addr)
        .map(|(_, ms, _)| ms.saturating_sub(registered_at));
    let first_call = first_call.expect("the newcomer got no call within a second");
    println!("newcomer's first call {first_call} ms after its registration time");
    assert!(first_call <= 1_000, "{first_call} ms");

    // 4. ZooKeeper goes away for longer than a session: calls go on over cached instances.
    zk.stop();
    let outage = Instant::now();
    tokio::time::sleep(SESSION * 2).await;
    let seen = replies_since(&log, outage);
    assert_eq!(
        seen.keys().cloned().collect::<HashSet<_>>(),
        live,
        "during the outage calls should still reach every server: {seen:?}"
    );
    // ... and comes back: every server registers again by itself.
    zk.restart().expect("ZooKeeper restarts");
    let back_after = until_registered(&connect, &live, Duration::from_secs(20))
        .await
        .expect("registrations come back after the restart");
    println!("registrations back {back_after:?} after the restart");

    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let log = log.lock().unwrap();
    println!("{} calls, {} failed", log.replies.len(), log.failures.len());
    assert!(
        log.replies.len() > 100,
        "too little load: {}",
        log.replies.len()
    );
    assert!(log.failures.is_empty(), "failed reads: {:?}", log.failures);
}

/// Graceful shutdown withdraws the registration first, then drains: the node is gone while a
/// call that was in flight still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_deregisters_before_draining() {
    use arpc::Server;
    use arpc_example_hello::{GreeterServer, Hello};

    let zk = TestingServer::start(Duration::from_millis(100)).unwrap_or_else(|e| panic!("{e}"));
    let connect = zk.connect_string();
    let registry = Registry::from_url(&zk.url("/arpc", SESSION)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .add_service(GreeterServer::new(Hello::serving_as(addr.clone())))
            .registry(registry)
            .serve_with_incoming(listener, async {
                let _ = stopped.await;
            }),
    );
    let only: HashSet<String> = [addr.clone()].into();
    until_registered(&connect, &only, Duration::from_secs(15))
        .await
        .expect("registered");

    let client = GreeterClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let slow = tokio::spawn(async move {
        let request = HelloRequest {
            name: "slow".into(),
            reply_padding: 0,
            delay_ms: 1_500,
        };
        client.say_hello(request).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    let gone_after = until_registered(&connect, &HashSet::new(), Duration::from_secs(5))
        .await
        .expect("the node goes at shutdown");
    assert!(
        !slow.is_finished(),
        "the in-flight call finished before deregistration"
    );
    assert!(gone_after < Duration::from_millis(1_000), "{gone_after:?}");
    let reply = slow.await.unwrap().expect("the in-flight call completes");
    assert_eq!(reply.served_by, addr);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server drains and stops")
        .unwrap();
}
