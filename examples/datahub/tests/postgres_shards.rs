//! Shards on PostgreSQL, against real processes: two throwaway clusters (A holds shards 0
//! and 2, B holds shards 1 and 3) and a hub process over the four databases. Publishing goes
//! on while cluster B's server is stopped (as in a crash: `pg_ctl stop -m immediate`) for
//! 5 s and started again:
//!
//! - while B is down, the log partitions that write to B's shards (`p % 4` in {1, 3}: with
//!   8 log partitions and 4 shards, logical partition `lp` is on shard `lp % 4` and in log
//!   partition `lp % 8`) stall with a reason and their committed offsets do not move, while
//!   the partitions of A's shards keep committing, and publishing (`Ack::Durable`) goes on;
//! - once B is back, everything catches up (lag 0, nothing stalled) and every key's stored
//!   row has the newest acknowledged version: nothing acknowledged is lost.
//!
//! Needs PostgreSQL's server binaries (Debian's `postgresql` package; see
//! `arpc_example_datahub::testing::postgres`). Run with `--features postgres`.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arpc_example_datahub::listener::status::ListenerStatus;
use arpc_example_datahub::model::{Ack, ItemStatus};
use arpc_example_datahub::partition::Group;
use arpc_example_datahub::testing::postgres::Cluster;
use arpc_example_datahub::workload::{KeyRef, Producer, Team};
use futures_util::StreamExt;
use support::{HubProcess, TempDir, View, publish};

const PARTITIONS: u32 = 8;
/// The shards in cluster B.
const B_SHARDS: [u32; 2] = [1, 3];
const DOWN: Duration = Duration::from_secs(5);
/// Events per publish, per team; and the pause between publishes.
const BATCH: usize = 20;
const PAUSE: Duration = Duration::from_millis(20);

/// Log partition `p` writes to shard `p % 4` only (no partition moves here).
fn on_b(p: u32) -> bool {
    B_SHARDS.contains(&(p % 4))
}

type Key = (Group, u32);

fn key(p: &arpc_example_datahub::listener::status::PartitionState) -> Key {
    (p.group, p.partition)
}

fn committed(s: &ListenerStatus, b: bool) -> HashMap<Key, u64> {
    s.partitions
        .iter()
        .filter(|p| on_b(p.partition) == b)
        .map(|p| (key(p), p.committed))
        .collect()
}

#[derive(Default)]
struct Tally {
    /// The newest acknowledged version of every key.
    acked: HashMap<KeyRef, u64>,
    /// The newest version sent for every key (acknowledged or not).
    sent: HashMap<KeyRef, u64>,
    events: u64,
    not_accepted: u64,
}

fn block<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_postgres_stalls_only_its_partitions_and_loses_nothing() {
    let test_started = Instant::now();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(Cluster::start);
        let b = s.spawn(Cluster::start);
        (
            a.join().unwrap().expect("cluster A starts"),
            b.join().unwrap().expect("cluster B starts"),
        )
    });
    let urls: Vec<String> = (0..4u32)
        .map(|shard| {
            let cluster = if B_SHARDS.contains(&shard) { &b } else { &a };
            cluster
                .create_database(&format!("shard{shard}"))
                .expect("createdb")
        })
        .collect();
    println!(
        "clusters A (port {}) and B (port {}) up in {:.1} s",
        a.port(),
        b.port(),
        test_started.elapsed().as_secs_f64()
    );

    let dir = TempDir::new("postgres-shards");
    let hub = HubProcess::start(dir.path(), &["--shards", &urls.join(",")], &[]);
    let view = View::open(dir.path(), PARTITIONS).await;

    let running = Arc::new(AtomicBool::new(true));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut loaders = Vec::new();
    for team in Team::ALL {
        let client = hub.client().await;
        let (running, tally) = (Arc::clone(&running), Arc::clone(&tally));
        loaders.push(tokio::spawn(async move {
            let mut producer = Producer::new(team, 2_000, 0.8, 11);
            while running.load(Ordering::Acquire) {
                let (events, keys): (Vec<_>, Vec<_>) =
                    (0..BATCH).map(|_| producer.next_event()).unzip();
                let versions: Vec<u64> = events
                    .iter()
                    .map(|e| e.source_version.unwrap_or(0))
                    .collect();
                let r = publish(&client, events, Ack::Durable).await;
                {
                    let mut t = tally.lock().unwrap();
                    for ((k, v), result) in keys.into_iter().zip(versions).zip(&r.results) {
                        t.events += 1;
                        let sent = t.sent.entry(k.clone()).or_insert(0);
                        *sent = (*sent).max(v);
                        if result.status == ItemStatus::Accepted {
                            let acked = t.acked.entry(k).or_insert(0);
                            *acked = (*acked).max(v);
                        } else {
                            t.not_accepted += 1;
                        }
                    }
                }
                tokio::time::sleep(PAUSE).await;
            }
        }));
    }
    let events = || tally.lock().unwrap().events;

    // Warm up: every partition has applied something.
    view.wait_status(Duration::from_secs(20), "every partition committing", |s| {
        s.partitions.len() == 2 * PARTITIONS as usize
            && s.partitions.iter().all(|p| p.committed > 0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Cluster B goes down.
    let events_before = events();
    let stopping = Instant::now();
    block(|| b.stop()).expect("cluster B stops");
    let stopped_at = Instant::now();
    let stop_took = stopped_at - stopping;

    // B's partitions stall (each as soon as its next batch fails).
    let s = view
        .wait_status(Duration::from_secs(4), "B's partitions stalled", |s| {
            s.partitions
                .iter()
                .filter(|p| on_b(p.partition))
                .all(|p| p.stalled.is_some())
        })
        .await;
    let stall_seen = stopped_at.elapsed();
    for p in s.partitions.iter().filter(|p| on_b(p.partition)) {
        let reason = p.stalled.as_deref().unwrap_or_default();
        assert!(
            reason.contains("unavailable"),
            "{}/{} stalled for another reason: {reason}",
            p.group,
            p.partition
        );
    }
    let frozen = committed(&s, true);
    let a_at_stall = committed(&s, false);
    let reason = s
        .partitions
        .iter()
        .find_map(|p| p.stalled.clone())
        .unwrap_or_default();

    // Until B is back: B's partitions do not move, A's keep committing.
    let mut polls = 0;
    while stopped_at.elapsed() < DOWN {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = view.status().await;
        polls += 1;
        assert_eq!(
            committed(&s, true),
            frozen,
            "a partition of a stopped shard committed"
        );
        for p in s.partitions.iter().filter(|p| on_b(p.partition)) {
            assert!(
                p.stalled.is_some(),
                "{}/{} not stalled",
                p.group,
                p.partition
            );
        }
        for p in s.partitions.iter().filter(|p| !on_b(p.partition)) {
            assert!(
                p.stalled.is_none(),
                "{}/{} of cluster A stalled: {:?}",
                p.group,
                p.partition,
                p.stalled
            );
        }
    }
    let s = view.status().await;
    let a_at_end = committed(&s, false);
    let b_lag: u64 = s
        .partitions
        .iter()
        .filter(|p| on_b(p.partition))
        .map(|p| p.lag)
        .sum();
    for (k, before) in &a_at_stall {
        assert!(
            a_at_end[k] > *before,
            "{}/{} of cluster A did not advance while B was down ({before} → {})",
            k.0,
            k.1,
            a_at_end[k]
        );
    }
    let a_progress: u64 = a_at_stall.iter().map(|(k, v)| a_at_end[k] - v).sum();
    let events_while_down = events() - events_before;

    // B comes back.
    let starting = Instant::now();
    block(|| b.start_again()).expect("cluster B starts again");
    let down_for = stopped_at.elapsed();
    let restarted_at = Instant::now();
    let start_took = restarted_at - starting;
    let s = view
        .wait_status(Duration::from_secs(15), "B's partitions resuming", |s| {
            s.partitions.iter().all(|p| p.stalled.is_none())
                && committed(s, true).iter().all(|(k, v)| *v > frozen[k])
        })
        .await;
    let resumed_after = restarted_at.elapsed();
    drop(s);
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.store(false, Ordering::Release);
    for l in loaders {
        l.await.unwrap();
    }
    let load_stopped = Instant::now();

    // Everything catches up: lag 0, nothing stalled, and no offset moving for 0.5 s (the log
    // end in the status is refreshed by the fetch loop, so a quiet second confirms it).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last: Option<HashMap<Key, u64>> = None;
    loop {
        let s = view.status().await;
        let all: HashMap<Key, u64> = s.partitions.iter().map(|p| (key(p), p.committed)).collect();
        let quiet = s.lag() == 0 && s.partitions.iter().all(|p| p.stalled.is_none());
        if quiet && last.as_ref() == Some(&all) {
            break;
        }
        last = quiet.then_some(all);
        assert!(Instant::now() < deadline, "no catch-up within 30 s: {s:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let caught_up_after = restarted_at.elapsed();
    let drained_after = load_stopped.elapsed();

    // Every acknowledged event is applied: each key holds its newest acknowledged version.
    let tally = Arc::try_unwrap(tally)
        .ok()
        .expect("the loaders are done")
        .into_inner()
        .unwrap();
    let (view, sent) = (&view, &tally.sent);
    let checks: Vec<(KeyRef, u64, u64, Option<u64>)> =
        futures_util::stream::iter(tally.acked.iter().map(|(k, acked)| async move {
            let stored = view.row(k).await.map(|r| r.source_version);
            (k.clone(), *acked, sent[k], stored)
        }))
        .buffer_unordered(16)
        .collect()
        .await;
    let lost: Vec<_> = checks
        .iter()
        .filter(|(_, acked, _, stored)| stored.is_none_or(|v| v < *acked))
        .collect();
    let beyond: Vec<_> = checks
        .iter()
        .filter(|(_, _, sent, stored)| stored.is_some_and(|v| v > *sent))
        .collect();
    let on_b_keys = checks
        .iter()
        .filter(|(k, ..)| {
            let lp = arpc_example_datahub::partition::logical_partition(k.group, &k.partition_key);
            B_SHARDS.contains(&(lp.lp % 4))
        })
        .count();

    println!(
        "published {} events ({} while B was down, {} not accepted) over {} keys ({} on B)",
        tally.events,
        events_while_down,
        tally.not_accepted,
        checks.len(),
        on_b_keys
    );
    println!(
        "B down for {:.1} s (pg_ctl stop {:.2} s, start {:.2} s): its partitions seen stalled \
         after {:.2} s, frozen for {:.1} s ({polls} checks; lag on B as last fetched \
         {b_lag}); A committed {a_progress} events meanwhile",
        down_for.as_secs_f64(),
        stop_took.as_secs_f64(),
        start_took.as_secs_f64(),
        stall_seen.as_secs_f64(),
        (down_for + resumed_after - stall_seen).as_secs_f64(),
    );
    println!("stall reason: {reason}");
    println!(
        "after the restart: B writing again in {:.2} s, all caught up {:.2} s after the restart \
         ({:.2} s after publishing stopped); {} keys lost, {} beyond what was sent; test {:.1} s",
        resumed_after.as_secs_f64(),
        caught_up_after.as_secs_f64(),
        drained_after.as_secs_f64(),
        lost.len(),
        beyond.len(),
        test_started.elapsed().as_secs_f64()
    );
    assert_eq!(
        tally.not_accepted, 0,
        "publishes refused while a shard was down"
    );
    assert!(lost.is_empty(), "acknowledged versions missing: {lost:?}");
    assert!(
        beyond.is_empty(),
        "versions never sent are stored: {beyond:?}"
    );
    assert!(on_b_keys > 0 && on_b_keys < checks.len());

    // The read path on PostgreSQL (one statement per owner: the fence and every key range):
    // screens show what the shards hold.
    let query = hub.query().await;
    let mut screens = 0;
    for (k, _, _, stored) in checks
        .iter()
        .filter(|(k, ..)| k.key.starts_with("member:") || k.key.starts_with("seller:"))
        .take(200)
    {
        let id: u64 = k.partition_key.parse().unwrap();
        let (member_id, seller_id) = if k.key.starts_with("member:") {
            (id, 1)
        } else {
            (1, id)
        };
        let screen = query
            .screen(arpc_example_datahub::model::ScreenRequest {
                member_id,
                seller_id,
                items: 10,
                ..Default::default()
            })
            .await
            .expect("a screen from PostgreSQL shards");
        let shown = screen
            .versions
            .iter()
            .find(|v| v.key == k.key)
            .map(|v| v.version);
        assert_eq!(shown, *stored, "{} on the screen", k.key);
        screens += 1;
    }
    assert!(screens > 0);
    println!("{screens} screens read from the PostgreSQL shards, each as stored");
    drop(hub);
}
