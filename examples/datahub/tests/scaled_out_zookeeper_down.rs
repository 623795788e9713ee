//! The scaled-out hub with ZooKeeper stopped for two session timeouts: screens (through
//! clients that discovered the query processes before) and publishes go on, the listeners
//! keep applying (the directory and the partition shares they hold stay in force), and after
//! ZooKeeper is back every process is registered again and nothing acknowledged is lost.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arpc_example_datahub::model::{Ack, ScreenRequest};
use arpc_example_datahub::workload::{Producer, Team};
use support::scaled::{SESSION, ScaledHub};
use support::{Load, lost_within, publish};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_go_on_while_zookeeper_is_down() {
    let mut hub = ScaledHub::start("zk-down", 2, 2).await;
    let load = Load::start(&hub.publisher, 2000, 1.0, 50, Duration::from_millis(50)).await;
    hub.settled(2, Duration::from_secs(90)).await;
    let client = hub.query_client(2).await;
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let (client, reading) = (client.clone(), Arc::clone(&reading));
        tokio::spawn(async move {
            let (mut ok, mut errors) = (0u64, Vec::new());
            let mut id = 0;
            while reading.load(Ordering::Acquire) {
                id = id % 200 + 1;
                let request = ScreenRequest {
                    member_id: id,
                    seller_id: id,
                    items: 5,
                    ..ScreenRequest::default()
                };
                match client.screen(request).await {
                    Ok(_) => ok += 1,
                    Err(e) => errors.push(format!("{:?}: {}", e.code(), e.message())),
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (ok, errors)
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    hub.zk.stop();
    let stopped = Instant::now();
    let failed_before = load.failed_calls.load(Ordering::Relaxed);
    // While it is down: a new key published now is applied (the listeners go on).
    let publisher = hub.publisher.client().await;
    let mut fresh = Producer::new(Team::Members, 10, 1.0, 3).offset(9_000_000);
    let (event, key) = fresh.next_event();
    let version = event.source_version.unwrap_or(0);
    publish(&publisher, vec![event], Ack::Durable).await;
    let applied = loop {
        if hub
            .view
            .row(&key)
            .await
            .is_some_and(|r| r.source_version >= version)
        {
            break stopped.elapsed();
        }
        assert!(
            stopped.elapsed() < 2 * SESSION,
            "{} applied while ZooKeeper is down",
            key.key
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sent_during = load.sent.load(Ordering::Relaxed);
    tokio::time::sleep((2 * SESSION).saturating_sub(stopped.elapsed()) + Duration::from_secs(1))
        .await;
    let sent_during = load.sent.load(Ordering::Relaxed) - sent_during;
    let failed_during = load.failed_calls.load(Ordering::Relaxed) - failed_before;
    hub.zk.restart().expect("ZooKeeper restarts");
    let down = stopped.elapsed();
    println!(
        "ZooKeeper down {down:?}: {} applied {applied:?} into the outage; {sent_during} events \
         accepted, {failed_during} publishes failed",
        key.key
    );

    // Back: every process registered again, both listeners reporting and sharing.
    hub.settled(2, Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let admins = hub.admin(&["listeners"]);
        if admins.contains("listener-") {
            break;
        }
        assert!(Instant::now() < deadline, "admin finds the hub again");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    reading.store(false, Ordering::Release);
    let (reads, errors) = reader.await.unwrap();
    let acked = load.stop().await;
    let lost = lost_within(&hub.view, &acked, Duration::from_secs(90)).await;
    println!(
        "{reads} screens read, {} failed; {} keys checked, {lost} lost",
        errors.len(),
        acked.len()
    );
    assert!(
        errors.is_empty(),
        "failed reads: {:?}",
        &errors[..errors.len().min(5)]
    );
    assert!(sent_during > 0, "publishes were accepted during the outage");
    assert_eq!(failed_during, 0, "no publish failed during the outage");
    assert_eq!(lost, 0);
}
