//! Per-key ordering with four concurrent publishers, against a real hub process: events of
//! one partition key are applied in log order (these carry no source version, so the log
//! alone decides), every key ends at its last logged event, and a reader polling the shards
//! meanwhile never sees a key go backwards.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arpc_example_datahub::model::{Ack, Domain, Event, Grade, ItemStatus, Member, Payload};
use arpc_example_datahub::partition::{Group, LogPartition, log_partition};
use arpc_example_datahub::workload::KeyRef;
use support::{HubProcess, TempDir, View, publish};

const KEYS: u64 = 100;
const PUBLISHERS: u64 = 4;
const PER_PUBLISHER: u64 = 2500;
const BATCH: u64 = 50;

fn event(publisher: u64, seq: u64, member: u64) -> Event {
    Event {
        event_id: format!("p{publisher}-{seq}"),
        partition_key: member.to_string(),
        key: format!("member:{member}"),
        source_version: None,
        occurred_at_ms: 0,
        payload: Payload::Member(Member {
            member_id: member,
            name: format!("p{publisher}-{seq}"),
            grade: Grade::Basic,
            email: None,
            joined_at: 0,
        }),
        trace_id: None,
    }
}

fn keyref(member: u64) -> KeyRef {
    KeyRef {
        group: Group::Member,
        partition_key: member.to_string(),
        domain: Domain::Member,
        key: format!("member:{member}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_apply_in_log_order_under_concurrent_publishers() {
    let dir = TempDir::new("ordering");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let view = Arc::new(View::open(dir.path(), 8).await);

    // The reader: polls every key's row while publishing goes on.
    let running = Arc::new(AtomicBool::new(true));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (view, running, reads) = (Arc::clone(&view), Arc::clone(&running), Arc::clone(&reads));
        tokio::spawn(async move {
            let mut last: HashMap<u64, u64> = HashMap::new();
            let mut regressions = 0u64;
            while running.load(Ordering::Acquire) {
                for m in 1..=KEYS {
                    if let Some(row) = view.row(&keyref(m)).await {
                        reads.fetch_add(1, Ordering::Relaxed);
                        let seen = last.entry(m).or_insert(0);
                        if row.log_pos < *seen {
                            regressions += 1;
                        }
                        *seen = (*seen).max(row.log_pos);
                    }
                }
            }
            regressions
        })
    };

    let started = Instant::now();
    let mut tasks = Vec::new();
    for publisher in 0..PUBLISHERS {
        let client = hub.client().await;
        tasks.push(tokio::spawn(async move {
            // (offset, name) of every acknowledged event, per key.
            let mut acked: HashMap<u64, Vec<(u64, String)>> = HashMap::new();
            let mut seq = 0;
            while seq < PER_PUBLISHER {
                let events: Vec<Event> = (0..BATCH)
                    .map(|i| event(publisher, seq + i, (seq + i + publisher * 7) % KEYS + 1))
                    .collect();
                let response = publish(&client, events.clone(), Ack::Durable).await;
                for (e, r) in events.iter().zip(&response.results) {
                    assert_eq!(r.status, ItemStatus::Accepted, "{e:?}");
                    let member: u64 = e.partition_key.parse().unwrap();
                    acked
                        .entry(member)
                        .or_default()
                        .push((r.offset, e.event_id.clone()));
                }
                seq += BATCH;
            }
            acked
        }));
    }
    let mut by_key: HashMap<u64, Vec<(u64, String)>> = HashMap::new();
    for t in tasks {
        for (k, mut v) in t.await.unwrap() {
            // One publisher's events of a key were logged in the order it sent them.
            assert!(
                v.windows(2).all(|w| w[0].0 < w[1].0),
                "member {k}: out of send order"
            );
            by_key.entry(k).or_default().append(&mut v);
        }
    }
    println!(
        "{} events from {PUBLISHERS} publishers in {:?}",
        PUBLISHERS * PER_PUBLISHER,
        started.elapsed()
    );

    // Wait until the listener has applied everything.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = view.status().await;
        if status.lag() == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not caught up: {status:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.store(false, Ordering::Release);
    let regressions = reader.await.unwrap();

    // Every key ends at the event logged last for it.
    for (member, events) in &by_key {
        let (offset, name) = events.iter().max().unwrap();
        let p: LogPartition = log_partition(Group::Member, &member.to_string(), 8);
        let row = view.row(&keyref(*member)).await.expect("stored");
        assert_eq!(row.log_pos, *offset, "member {member} in {p}");
        let stored: arpc_example_datahub::model::MemberRow = arpc::codec::CodecKind::Proto
            .decode(row.payload.clone())
            .unwrap();
        assert_eq!(&stored.member.name, name);
    }
    println!(
        "{} keys at their last logged event; {} reads during the run, {regressions} regressions",
        by_key.len(),
        reads.load(Ordering::Relaxed)
    );
    assert!(reads.load(Ordering::Relaxed) > 100, "the reader read");
    assert_eq!(regressions, 0);
}
