//! `datahub admin` against the scaled-out hub, finding it through ZooKeeper: it lists both
//! listeners' partitions and the partition map; it finds an event's lineage on whichever
//! listener applied it; it pauses a partition (applied by whichever
//! listener owns it); the pause survives that listener's SIGKILL and the rebalance (the new
//! owner holds it paused), and a resume from the command line lets it go on.

mod support;

use std::time::{Duration, Instant};

use arpc_example_datahub::model::Ack;
use arpc_example_datahub::partition::Group;
use arpc_example_datahub::workload::{Producer, Team};
use support::scaled::ScaledHub;
use support::{Load, publish};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pauses_a_partition_across_a_listener_kill() {
    let mut hub = ScaledHub::start("admin", 2, 1).await;
    let load = Load::start(&hub.publisher, 2000, 1.0, 50, Duration::from_millis(50)).await;
    let statuses = hub.settled(2, Duration::from_secs(90)).await;

    let table = hub.admin(&["listeners"]);
    println!("{table}");
    for s in &statuses {
        assert!(
            table.contains(&s.listener),
            "`admin listeners` shows {}",
            s.listener
        );
    }
    let map = hub.admin(&["map"]);
    assert!(
        map.contains("postgres://"),
        "`admin map` shows the shards:\n{map}"
    );

    // An event's lineage lives with the listener that applied it: the command asks each.
    let mut seller = Producer::new(Team::Sellers, 10, 1.0, 11).offset(7_000_000);
    let (event, _) = seller.next_event();
    let id = event.event_id.clone();
    publish(&hub.publisher.client().await, vec![event], Ack::Durable).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let lineage = loop {
        match hub.try_admin(&["lineage", &id]) {
            Ok(out) if out.contains("committed") => break out,
            other => assert!(Instant::now() < deadline, "the lineage of {id}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("{lineage}");
    assert!(lineage.contains(&id), "{lineage}");

    // A member partition of the first listener process.
    let victim = hub.listeners[0].pid();
    let owner = format!("listener-{victim}");
    let partition = statuses
        .iter()
        .find(|s| s.listener == owner)
        .and_then(|s| s.partitions.iter().find(|p| p.group == Group::Member))
        .map(|p| p.partition)
        .expect("the first listener owns a member partition");
    let p = partition.to_string();
    hub.admin(&[
        "pause",
        "member",
        "--partition",
        &p,
        "--reason",
        "kept across the kill",
    ]);
    let (on, reason, _) = paused_on(&hub, partition, None).await;
    assert_eq!(on, owner);
    assert_eq!(reason, "kept across the kill");
    assert!(
        hub.admin(&["listeners"]).contains("kept across the kill"),
        "`admin listeners` shows the pause"
    );

    hub.listeners[0].kill();
    hub.settled(1, Duration::from_secs(90)).await;
    let (new_owner, reason, committed) = paused_on(&hub, partition, Some(&owner)).await;
    assert_eq!(
        reason, "kept across the kill",
        "the pause holds on {new_owner}"
    );
    // Paused: its position does not move while the load goes on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, _, still) = paused_on(&hub, partition, Some(&owner)).await;
    assert_eq!(
        still, committed,
        "member/{partition} does not advance while paused"
    );

    let table = hub.admin(&["resume", "member", "--partition", &p]);
    println!("{table}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let statuses = hub.statuses().await;
        let part = statuses
            .iter()
            .flat_map(|s| &s.partitions)
            .find(|x| x.group == Group::Member && x.partition == partition);
        if part.is_some_and(|x| x.paused.is_none() && x.committed > committed) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "member/{partition} goes on after the resume"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(load.stop().await);
}

/// Waits until a live listener (other than `not_on`) reports member/`partition` paused;
/// returns that listener, the reason, and the partition's committed offset.
async fn paused_on(hub: &ScaledHub, partition: u32, not_on: Option<&str>) -> (String, String, u64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now = arpc_example_datahub::clock::now_ms();
        let found = hub.statuses().await.into_iter().find_map(|s| {
            let part = s
                .partitions
                .iter()
                .find(|x| x.group == Group::Member && x.partition == partition)?;
            (now - s.at_ms < 2_000 && not_on.is_none_or(|o| o != s.listener))
                .then(|| (s.listener.clone(), part.paused.clone(), part.committed))
        });
        if let Some((listener, Some(reason), committed)) = found {
            return (listener, reason, committed);
        }
        assert!(Instant::now() < deadline, "member/{partition} paused");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
