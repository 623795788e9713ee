//! The scaled-out hub: screen readers find the two query processes through ZooKeeper
//! (`QueryClient::discover`), and one query process is SIGKILLed while they read. No read
//! fails: a call cut off by the kill is retried on the other instance (screens are reads,
//! so idempotent), and the dead one is ejected, then dropped when its session ends.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arpc_example_datahub::model::ScreenRequest;
use arpc_example_datahub::workload::Rng;
use support::Load;
use support::scaled::ScaledHub;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_query_process_fails_no_read() {
    let mut hub = ScaledHub::start("query-kill", 2, 2).await;
    // Something to show: a few seconds of publishing, kept up at a low rate.
    let load = Load::start(&hub.publisher, 300, 1.0, 50, Duration::from_millis(100)).await;
    hub.settled(2, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let client = hub.query_client(2).await;
    let reading = Arc::new(AtomicBool::new(true));
    let (reads, shown) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut readers = Vec::new();
    for seed in 0..8 {
        let client = client.clone();
        let (reading, reads, shown) =
            (Arc::clone(&reading), Arc::clone(&reads), Arc::clone(&shown));
        readers.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            let mut errors = Vec::new();
            while reading.load(Ordering::Acquire) {
                let request = ScreenRequest {
                    member_id: 1 + rng.below(300),
                    seller_id: 1 + rng.below(300),
                    items: 10,
                    ..ScreenRequest::default()
                };
                match client.screen(request).await {
                    Ok(screen) => {
                        reads.fetch_add(1, Ordering::Relaxed);
                        if screen.member.is_some() {
                            shown.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => errors.push(format!("{:?}: {}", e.code(), e.message())),
                }
            }
            errors
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = reads.load(Ordering::Relaxed);
    hub.queries[0].kill();
    let killed = Instant::now();
    // Read on for more than a session timeout: through the ejection and the removal.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.channel().instances().len() > 1 {
        assert!(Instant::now() < deadline, "the killed instance is dropped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dropped = killed.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = reads.load(Ordering::Relaxed) - before;
    reading.store(false, Ordering::Release);
    let mut errors = Vec::new();
    for r in readers {
        errors.extend(r.await.unwrap());
    }
    let stats = client.channel().stats();
    println!(
        "{before} screens before the kill, {after} after ({} showed a member); the killed \
         instance left the list {dropped:?} after the kill; {stats:?}",
        shown.load(Ordering::Relaxed)
    );
    drop(load.stop().await);
    assert!(before > 100, "screens were read before the kill: {before}");
    assert!(after > 100, "screens were read after the kill: {after}");
    assert!(shown.load(Ordering::Relaxed) > 0, "the screens showed data");
    assert!(
        errors.is_empty(),
        "{} failed reads: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
}
