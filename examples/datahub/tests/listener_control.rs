//! Runtime control of a running hub process through the control API, from another process
//! (this test), the way an operator's tool would: pause one partition (only its lag grows),
//! resume (it drains), change a group's concurrency 1 → 4 → 2 without a restart, pause a
//! whole group, and a pause that survives a SIGKILL and restart of the hub.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arpc_example_datahub::directory::Target;
use arpc_example_datahub::model::{Ack, ItemStatus};
use arpc_example_datahub::partition::{Group, LogPartition};
use arpc_example_datahub::workload::{Producer, Team};
use support::{HubProcess, TempDir, View, publish};

/// Publishes member events (all 8 member partitions) until told to stop.
fn load(
    client: arpc_example_datahub::PublisherClient,
    running: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut producer = Producer::new(Team::Members, 5000, 0.6, 11);
        let mut sent = 0;
        while running.load(Ordering::Acquire) {
            let events: Vec<_> = (0..200).map(|_| producer.next_event().0).collect();
            let r = publish(&client, events, Ack::Durable).await;
            assert!(r.results.iter().all(|x| x.status == ItemStatus::Accepted));
            sent += 200;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sent
    })
}

const P3: LogPartition = LogPartition {
    group: Group::Member,
    partition: 3,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_concurrency_without_restart() {
    let dir = TempDir::new("control");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let view = View::open(dir.path(), 8).await;
    let running = Arc::new(AtomicBool::new(true));
    let loader = load(hub.client().await, Arc::clone(&running));

    // Pause partition 3: its lag grows, the others' stays small.
    view.control
        .pause(Target::Partition(P3), "maintenance")
        .await
        .unwrap();
    let paused = view
        .wait_status(Duration::from_secs(10), "p3 paused", |s| {
            s.partition(P3)
                .is_some_and(|p| p.paused.as_deref() == Some("maintenance"))
        })
        .await;
    let lag_at_pause = paused.partition(P3).unwrap().lag;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = view.status().await;
    let p3 = later.partition(P3).unwrap();
    assert!(
        p3.lag > lag_at_pause + 100,
        "p3's lag grows while paused: {p3:?}"
    );
    for p in later
        .partitions
        .iter()
        .filter(|p| p.group == Group::Member && p.partition != 3)
    {
        assert!(p.paused.is_none());
        assert!(p.lag < p3.lag / 2, "only p3 falls behind: {p:?} vs {p3:?}");
    }
    println!("p3 lag while paused: {} → {}", lag_at_pause, p3.lag);

    // Resume: it drains.
    view.control.resume(Target::Partition(P3)).await.unwrap();
    view.wait_status(Duration::from_secs(20), "p3 drained", |s| {
        s.partition(P3)
            .is_some_and(|p| p.paused.is_none() && p.lag < 1000)
    })
    .await;

    // Concurrency 1 → 4 → 2, while the load goes on.
    for n in [1u32, 4, 2] {
        view.control
            .set_concurrency(Group::Member, n)
            .await
            .unwrap();
        view.wait_status(Duration::from_secs(10), "the new concurrency", |s| {
            s.group(Group::Member).is_some_and(|g| g.concurrency == n)
        })
        .await;
        // The report's maximum covers the time since the previous report: let the reports
        // from before the change pass.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut most = 0;
        for _ in 0..8 {
            let s = view.status().await;
            let g = s.group(Group::Member).unwrap();
            most = most.max(g.max_in_flight);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        println!("concurrency {n}: at most {most} member batches in the write stage at once");
        assert!(most <= n, "concurrency {n} but {most} batches in flight");
    }
    assert!(
        view.control
            .set_concurrency(Group::Member, 9)
            .await
            .is_err(),
        "at most the partition count"
    );
    assert!(
        view.control
            .set_concurrency(Group::Member, 0)
            .await
            .is_err()
    );

    // A group pause covers all its partitions.
    view.control
        .pause(Target::Group(Group::Seller), "")
        .await
        .unwrap();
    view.wait_status(Duration::from_secs(10), "sellers paused", |s| {
        s.partitions
            .iter()
            .filter(|p| p.group == Group::Seller)
            .all(|p| p.paused.is_some())
    })
    .await;
    view.control
        .resume(Target::Group(Group::Seller))
        .await
        .unwrap();
    view.wait_status(Duration::from_secs(10), "sellers running", |s| {
        s.partitions.iter().all(|p| p.paused.is_none())
    })
    .await;

    running.store(false, Ordering::Release);
    let sent = loader.await.unwrap();
    view.caught_up(Duration::from_secs(60)).await;
    println!("{sent} events published and applied during the test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_survives_a_restart() {
    let dir = TempDir::new("control-restart");
    let mut hub = HubProcess::start(dir.path(), &[], &[]);
    let view = View::open(dir.path(), 8).await;
    view.control
        .pause(Target::Partition(P3), "until the fix ships")
        .await
        .unwrap();
    view.wait_status(Duration::from_secs(10), "p3 paused", |s| {
        s.partition(P3).is_some_and(|p| p.paused.is_some())
    })
    .await;
    hub.kill();

    let hub = HubProcess::start(dir.path(), &[], &[]);
    let running = Arc::new(AtomicBool::new(true));
    let loader = load(hub.client().await, Arc::clone(&running));
    let before = view.committed(P3).await;
    let s = view
        .wait_status(
            Duration::from_secs(20),
            "p3 still paused after the restart",
            |s| {
                s.partition(P3).is_some_and(|p| {
                    p.paused.as_deref() == Some("until the fix ships") && p.lag > 200
                })
            },
        )
        .await;
    assert_eq!(
        view.committed(P3).await,
        before,
        "nothing of p3 applied while paused"
    );
    println!(
        "after the restart p3 stays paused with lag {}",
        s.partition(P3).unwrap().lag
    );
    running.store(false, Ordering::Release);
    loader.await.unwrap();
    view.control.resume(Target::Partition(P3)).await.unwrap();
    view.caught_up(Duration::from_secs(30)).await;
    assert!(view.committed(P3).await > before);
}
