//! Writes run on a bounded blocking pool: saturating it with slow writes neither slows reads
//! nor queues writes without bound.

mod rpc_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arpc::Code;
use arpc::server::{BlockingPool, PoolConfig};
use rpc_support::*;

async fn median_read_latency(client: &ProbeClient, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client.echo(ping("read")).await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    times[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_writes_do_not_stall_reads_and_overflow_is_refused() {
    let probe = Arc::new(ProbeImpl::default());
    let pool = BlockingPool::new(PoolConfig::default().threads(2).queue(2));
    let server = start_with_pool(Arc::clone(&probe), pool.clone()).await;
    let client = server.client().await;
    let idle = median_read_latency(&client, 50).await;

    // Fill the pool: 2 running + 2 queued writes of 1.5 s each.
    let mut slow = ping("slow write");
    slow.sleep_ms = 1_500;
    let mut writes = Vec::new();
    for _ in 0..4 {
        let c = client.clone();
        let p = slow.clone();
        writes.push(tokio::spawn(async move { c.write(p).await }));
    }
    let give_up = Instant::now() + Duration::from_secs(2);
    while pool.in_flight() < 4 {
        assert!(
            Instant::now() < give_up,
            "only {} writes arrived",
            pool.in_flight()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // An extra write is refused at once, not queued.
    let t = Instant::now();
    let err = client.write(ping("one too many")).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "refusal took {:?}",
        t.elapsed()
    );

    // Reads keep their latency while every write thread is blocked.
    let busy = median_read_latency(&client, 50).await;
    let bound = (idle * 10).max(Duration::from_millis(20));
    assert!(
        busy <= bound,
        "reads slowed from {idle:?} to {busy:?} (bound {bound:?})"
    );

    for w in writes {
        assert_eq!(w.await.unwrap().unwrap().text, "slow write");
    }
    assert_eq!(probe.writes.load(std::sync::atomic::Ordering::SeqCst), 4);
}
