//! The broker dies under load (SIGKILL of tansu, with durable storage) and comes back ten
//! seconds later: publishing goes on, acknowledged through the local outbox; after the
//! restart the relay drains the outbox, each key's events stand in the topic in version
//! order, and every acknowledged event is applied.

mod support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arpc_example_datahub::log::kafka::{KafkaConfig, read_topics};
use arpc_example_datahub::model::Event;
use arpc_example_datahub::testing::tansu::{Broker, Storage};
use support::{HubProcess, Load, TempDir, View, lost};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_go_on_through_the_outbox_and_nothing_is_lost() {
    let mut broker = Broker::start(Storage::Sqlite).expect("tansu starts");
    let dir = TempDir::new("broker-down");
    let brokers = broker.brokers();
    let hub = HubProcess::start(
        dir.path(),
        &["--kafka", &brokers, "--outbox-after-ms", "1000"],
        &[],
    );
    let view = View::open(dir.path(), 8).await;
    let load = Load::start(&hub, 2000, 1.0, 50, Duration::from_millis(20)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    broker.kill();
    let before = load.sent.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = load.sent.load(Ordering::Relaxed) - before;
    let outboxed = load.via_outbox.load(Ordering::Relaxed);
    broker.restart().expect("tansu restarts on its data");
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failed_calls = load.failed_calls.load(Ordering::Relaxed);
    let acked = load.stop().await;
    println!(
        "broker down 10 s: {during} events acknowledged meanwhile ({outboxed} through the \
         outbox), {failed_calls} publishes failed whole"
    );
    assert!(
        during > 1000,
        "publishing went on while the broker was down"
    );
    assert!(outboxed > 0, "the outbox took them");

    let deadline = Instant::now() + Duration::from_secs(120);
    let lost = loop {
        let lost = lost(&view, &acked).await;
        if lost == 0 || Instant::now() > deadline {
            break lost;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    println!(
        "{} keys checked {:?} after the restart: {lost} lost",
        acked.len(),
        restarted.elapsed()
    );
    assert_eq!(lost, 0);

    // Per key, the events stand in the topics in version order (a copy of an event that both
    // reached the broker and went to the outbox may repeat it, never go back).
    let records = read_topics(
        &KafkaConfig::new(brokers, "check"),
        8,
        Duration::from_secs(3),
    )
    .await
    .unwrap();
    let mut by_partition: HashMap<_, Vec<_>> = HashMap::new();
    for r in records {
        by_partition.entry(r.partition).or_default().push(r);
    }
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut out_of_order = 0;
    let mut total = 0;
    for (_, mut rs) in by_partition {
        rs.sort_by_key(|r| r.offset);
        for r in rs {
            let e: Event = arpc::codec::CodecKind::Proto.decode(r.value).unwrap();
            let v = e.source_version.unwrap_or(0);
            let seen = last.entry(e.key.clone()).or_insert(0);
            if v < *seen {
                out_of_order += 1;
            }
            *seen = (*seen).max(v);
            total += 1;
        }
    }
    println!("{total} records in the topics, {out_of_order} out of version order");
    assert_eq!(out_of_order, 0);
}
