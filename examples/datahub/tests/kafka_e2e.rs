//! The hub scaled out on a Kafka-protocol broker (tansu), against real processes: a
//! publisher process, and two listener processes in one consumer group sharing the directory
//! (ZooKeeper) and the shards. One listener is SIGKILLed under load: its partitions go to the
//! other, nothing acknowledged is lost, and a pause set before the kill is in force on the
//! new owner.

mod support;

use std::time::{Duration, Instant};

use arpc::registry::testing::TestingServer;
use arpc_example_datahub::directory::zookeeper::ZkDirectory;
use arpc_example_datahub::directory::{Backend, Target};
use arpc_example_datahub::partition::{Group, LogPartition};
use arpc_example_datahub::testing::tansu::{Broker, Storage};
use support::{HubProcess, Load, TempDir, View, lost_within};

const PARTITIONS: usize = 16; // 8 per group

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_hands_its_partitions_over_and_nothing_is_lost() {
    let broker = Broker::start(Storage::Memory).expect("tansu starts");
    let zk = TestingServer::start(Duration::from_millis(100)).expect("ZooKeeper starts");
    let url = zk.url("/hub", Duration::from_secs(4));
    let shared = TempDir::new("kafka-shards");
    let shards: Vec<String> = (0..4)
        .map(|i| {
            format!(
                "sqlite:{}",
                shared.path().join(format!("shard-{i}.sqlite")).display()
            )
        })
        .collect();
    let shards = shards.join(",");
    let brokers = broker.brokers();
    let common = |role: &'static str| -> Vec<String> {
        vec![
            "--kafka".into(),
            brokers.clone(),
            "--zookeeper".into(),
            url.clone(),
            "--shards".into(),
            shards.clone(),
            role.into(),
        ]
    };
    let dirs = [
        TempDir::new("kafka-pub"),
        TempDir::new("kafka-l1"),
        TempDir::new("kafka-l2"),
    ];
    let args = |role| common(role);
    let a0 = args("--no-listener");
    let publisher = HubProcess::start(
        dirs[0].path(),
        &a0.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    let a1 = args("--no-publisher");
    let a1: Vec<&str> = a1.iter().map(String::as_str).collect();
    let mut l1 = HubProcess::start(dirs[1].path(), &a1, &[]);
    let l2 = HubProcess::start(dirs[2].path(), &a1, &[]);
    let view = |i: usize| {
        let url = url.clone();
        let dir = dirs[i].path().to_path_buf();
        async move {
            let backend = Backend::ZooKeeper(ZkDirectory::connect(&url).await.unwrap());
            View::with_backend(&dir, 8, backend).await
        }
    };
    let (v1, v2) = (view(1).await, view(2).await);

    let load = Load::start(&publisher, 3000, 1.0, 100, Duration::from_millis(20)).await;
    // Both listeners get a share of the partitions: wait until the group has settled (each
    // partition owned by exactly one of them).
    let deadline = Instant::now() + Duration::from_secs(90);
    let (s1, s2) = loop {
        let (s1, s2) = (v1.status().await, v2.status().await);
        let mut all: Vec<(Group, u32)> = s1
            .partitions
            .iter()
            .chain(&s2.partitions)
            .map(|p| (p.group, p.partition))
            .collect();
        all.sort();
        all.dedup();
        if !s1.partitions.is_empty()
            && !s2.partitions.is_empty()
            && s1.partitions.len() + s2.partitions.len() == PARTITIONS
            && all.len() == PARTITIONS
        {
            break (s1, s2);
        }
        assert!(
            Instant::now() < deadline,
            "the group settled: {} + {}",
            s1.partitions.len(),
            s2.partitions.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "listener 1 has {} partitions, listener 2 has {}",
        s1.partitions.len(),
        s2.partitions.len()
    );
    // Pause one of listener 1's partitions.
    let victim = s1.partitions[0].clone();
    let paused = LogPartition {
        group: victim.group,
        partition: victim.partition,
    };
    v1.control
        .pause(Target::Partition(paused), "kept across the rebalance")
        .await
        .unwrap();
    v1.wait_status(Duration::from_secs(10), "the pause on listener 1", |s| {
        s.partition(paused).is_some_and(|p| p.paused.is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    l1.kill();
    let killed = Instant::now();
    let after = v2
        .wait_status(
            Duration::from_secs(90),
            "listener 2 owns every partition",
            |s| s.partitions.len() == PARTITIONS,
        )
        .await;
    println!(
        "all {PARTITIONS} partitions on listener 2 {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(
        after
            .partition(paused)
            .and_then(|p| p.paused.clone())
            .as_deref(),
        Some("kept across the rebalance"),
        "the pause holds on the new owner"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    v2.control.resume(Target::Partition(paused)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let positions = std::sync::Arc::clone(&load.positions);
    let acked = load.stop().await;
    let lost = lost_within(&v2, &acked, Duration::from_secs(90)).await;
    println!(
        "{} keys checked after the failover: {lost} lost",
        acked.len()
    );
    if lost > 0 {
        for (k, v) in acked.values() {
            let stored = v2.row(k).await.map(|r| r.source_version);
            if stored.is_none_or(|s| s < *v) {
                // (log partition, offset, via the outbox) of the newest acknowledged version.
                let at = positions.lock().unwrap().get(&k.key).copied();
                println!("lost: {k:?} v{v}, stored {stored:?}, acknowledged at {at:?}");
            }
        }
        for p in v2.status().await.partitions {
            println!("{p:?}");
        }
    }
    assert_eq!(lost, 0);
    drop(l2);
}
