//! Seek and replay on a running hub process: seeking a group back to the beginning, or a
//! partition to a time, re-applies what follows and leaves the store identical (the version
//! guard makes re-applying a no-op); a replay of one domain's key range restores rows a shard
//! lost, reports how many it re-applied, and the store is again what it was.

mod support;

use std::time::{Duration, Instant};

use arpc_example_datahub::control::ReplayRequest;
use arpc_example_datahub::directory::{SeekTo, Target};
use arpc_example_datahub::model::{Ack, Domain, ItemStatus};
use arpc_example_datahub::partition::{Group, LogPartition, logical_partition};
use arpc_example_datahub::workload::{Producer, Team};
use support::{HubProcess, TempDir, View, publish};

async fn publish_teams(
    client: &arpc_example_datahub::PublisherClient,
    producers: &mut [Producer],
    rounds: usize,
) {
    for producer in producers {
        for _ in 0..rounds {
            let events: Vec<_> = (0..100).map(|_| producer.next_event().0).collect();
            let r = publish(client, events, Ack::Durable).await;
            assert!(r.results.iter().all(|x| x.status == ItemStatus::Accepted));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_and_replay_leave_the_store_identical() {
    let dir = TempDir::new("seek");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let client = hub.client().await;
    let view = View::open(dir.path(), 8).await;
    let mut producers: Vec<Producer> = Team::ALL
        .iter()
        .map(|t| Producer::new(*t, 300, 0.9, 1))
        .collect();
    publish_teams(&client, &mut producers, 10).await;
    let middle = arpc_example_datahub::clock::now_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;
    publish_teams(&client, &mut producers, 10).await;
    view.caught_up(Duration::from_secs(60)).await;
    let before = view.dump().await;
    println!("{} rows stored", before.len());

    // Seek the whole member group to the beginning: everything is read and applied again.
    let id = view
        .control
        .seek(Target::Group(Group::Member), SeekTo::Beginning)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !view.control.seek_done(id) {
        assert!(
            Instant::now() < deadline,
            "seek applied by every member partition"
        );
        view.directory.refresh().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = view.caught_up(Duration::from_secs(60)).await;
    let batches: u64 = s
        .partitions
        .iter()
        .filter(|p| p.group == Group::Member)
        .map(|p| p.batches)
        .sum();
    assert_eq!(
        view.dump().await,
        before,
        "re-applying from the beginning changes nothing"
    );
    println!(
        "member group replayed from the beginning ({batches} batches in all): store identical"
    );

    // Seek one seller partition to a time in the middle.
    let p = LogPartition {
        group: Group::Seller,
        partition: 2,
    };
    let end = view.committed(p).await;
    let id = view
        .control
        .seek(Target::Partition(p), SeekTo::TimestampMs(middle))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !view.control.seek_done(id) {
        assert!(Instant::now() < deadline, "seek applied");
        view.directory.refresh().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    view.caught_up(Duration::from_secs(30)).await;
    assert_eq!(view.committed(p).await, end);
    assert_eq!(
        view.dump().await,
        before,
        "re-applying from the middle changes nothing"
    );

    // A shard loses the item rows of one logical partition; a replay of the item domain
    // over that partition's keys brings them back.
    let victim = before
        .keys()
        .find(|(_, k)| k.starts_with("item/"))
        .map(|(_, k)| k.trim_start_matches("item/").to_owned())
        .unwrap();
    let item_id: u64 = victim.trim_start_matches("item:").parse().unwrap();
    let seller = (item_id - 1) % 30 + 1; // the producer's seller of an item (300 keys / 10)
    let lp = logical_partition(Group::Seller, &seller.to_string());
    let shard = view
        .shards
        .get(view.directory.snapshot().placement(lp).shard)
        .await
        .unwrap();
    let lost_rows = shard.rows(lp).await.unwrap();
    let lost_items: Vec<String> = lost_rows
        .iter()
        .filter(|r| r.domain == Domain::Item)
        .map(|r| r.key.clone())
        .collect();
    while shard.delete_chunk(lp, 1000).await.unwrap() > 0 {}
    assert!(!lost_items.is_empty());
    assert_ne!(view.dump().await, before);
    let (from, to) = (
        lost_items.iter().min().unwrap().clone(),
        format!("{}~", lost_items.iter().max().unwrap()),
    );
    let id = view
        .control
        .replay(ReplayRequest {
            group: Group::Seller,
            domain: Some(Domain::Item),
            key_from: from.clone(),
            key_to: to.clone(),
            since_ms: 0,
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let replay = loop {
        view.directory.refresh().await.unwrap();
        if let Some(r) = view.control.replay_status(id)
            && r.done()
        {
            break r;
        }
        assert!(Instant::now() < deadline, "replay finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let matched: u64 = replay.partitions.iter().map(|p| p.matched).sum();
    let reapplied: u64 = replay.partitions.iter().map(|p| p.reapplied).sum();
    let unchanged: u64 = replay.partitions.iter().map(|p| p.unchanged).sum();
    println!(
        "replay of items {from}..{to}: {matched} events matched, {reapplied} rows re-applied, \
         {unchanged} already current; {} item rows had been lost",
        lost_items.len()
    );
    assert!(
        reapplied >= lost_items.len() as u64,
        "every lost row came back"
    );
    // Seller rows of that partition were not in the replay (domain item only).
    let after = view.dump().await;
    let missing: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    assert!(
        missing.iter().all(|(_, k)| k.starts_with("seller/")),
        "{missing:?}"
    );
    let items_equal = before
        .iter()
        .filter(|((_, k), _)| k.starts_with("item/"))
        .all(|(k, v)| after.get(k) == Some(v));
    assert!(items_equal, "every item row is back as it was");
}
