//! `Ack::Applied` means visible: when the publisher answers, the row is on its shard with the
//! version it reports. And when the listener cannot apply in time (its partition paused),
//! the answer says so within the timeout instead of hanging, and a retry after the resume is
//! answered as a duplicate with the applied version.

mod support;

use std::time::{Duration, Instant};

use arpc_example_datahub::directory::Target;
use arpc_example_datahub::model::{Ack, ItemStatus, PublishRequest};
use arpc_example_datahub::partition::{LogPartition, log_partition};
use arpc_example_datahub::workload::{Producer, Team};
use support::{HubProcess, TempDir, View, publish};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_means_visible_in_the_shard() {
    let dir = TempDir::new("applied");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let client = hub.client().await;
    let view = View::open(dir.path(), 8).await;
    let mut checked = 0;
    for team in Team::ALL {
        let mut producer = Producer::new(team, 50, 1.0, 3);
        for _ in 0..20 {
            let (events, keys): (Vec<_>, Vec<_>) = (0..5).map(|_| producer.next_event()).unzip();
            let response = publish(&client, events.clone(), Ack::Applied).await;
            for ((event, key), result) in events.iter().zip(&keys).zip(&response.results) {
                assert_eq!(result.status, ItemStatus::Accepted, "{event:?}");
                let version = result.applied_version.expect("Applied reports the version");
                // Straight after the answer, without waiting: the row is there.
                let row = view.row(key).await.expect("visible when acknowledged");
                assert!(
                    row.version() >= version,
                    "{}: stored {} < acknowledged {version}",
                    key.key,
                    row.version()
                );
                checked += 1;
            }
        }
    }
    println!("{checked} events visible on their shard when Ack::Applied returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_partition_answers_within_the_timeout() {
    let dir = TempDir::new("applied-timeout");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let client = hub.client().await;
    let view = View::open(dir.path(), 8).await;
    let (event, key) = Producer::new(Team::Members, 10, 1.0, 1).next_event();
    let p: LogPartition = log_partition(key.group, &key.partition_key, 8);
    view.control
        .pause(Target::Partition(p), "test")
        .await
        .unwrap();
    view.wait_status(Duration::from_secs(10), "the pause", |s| {
        s.partition(p).is_some_and(|x| x.paused.is_some())
    })
    .await;

    let started = Instant::now();
    let response = client
        .publish(PublishRequest {
            events: vec![event.clone()],
            ack: Ack::Applied,
            timeout_ms: 300,
        })
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        matches!(&response.results[0].status, ItemStatus::Unavailable(m) if m.contains("not applied")),
        "{:?}",
        response.results[0]
    );
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    assert!(view.row(&key).await.is_none(), "not applied while paused");

    view.control.resume(Target::Partition(p)).await.unwrap();
    // The retry is a duplicate; with Ack::Applied it waits for the original to be applied
    // (the partition runs again) and reports the version.
    let retry = publish(&client, vec![event.clone()], Ack::Applied).await;
    assert_eq!(retry.results[0].status, ItemStatus::Duplicate);
    assert_eq!(retry.results[0].applied_version, event.source_version);
    let row = view.row(&key).await.expect("applied after the resume");
    assert_eq!(Some(row.source_version), event.source_version);
}
