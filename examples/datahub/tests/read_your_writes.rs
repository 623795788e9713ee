//! Read your writes: a publish answered with `Ack::Applied` gives the version it left, and a
//! screen asked for with that `min_version` shows the write (or a later one). With
//! `Ack::Durable` the screen waits for the listener to apply it; a version that never comes
//! is answered `DEADLINE_EXCEEDED` within `max_wait_ms`.

mod support;

use std::time::{Duration, Instant};

use arpc::Code;
use arpc_example_datahub::model::{Ack, DisplayScreen, MinVersion, Payload, ScreenRequest};
use arpc_example_datahub::workload::{Producer, Team};
use support::{HubProcess, TempDir, publish};

fn shown(screen: &DisplayScreen, key: &str) -> Option<u64> {
    screen
        .versions
        .iter()
        .find(|v| v.key == key)
        .map(|v| v.version)
}

fn screen_request(member_id: u64, key: &str, version: u64, max_wait_ms: u32) -> ScreenRequest {
    ScreenRequest {
        member_id,
        seller_id: 1,
        items: 5,
        min_version: Some(MinVersion {
            key: key.to_owned(),
            version,
        }),
        max_wait_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_then_min_version_shows_the_write() {
    let dir = TempDir::new("ryw-applied");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let (publisher, query) = (hub.client().await, hub.query().await);
    let mut points = Producer::new(Team::Points, 20, 1.0, 5);
    for _ in 0..60 {
        let (event, key) = points.next_event();
        let Payload::Points(change) = &event.payload else {
            unreachable!()
        };
        let (member_id, balance) = (change.member_id, change.balance_after);
        let response = publish(&publisher, vec![event], Ack::Applied).await;
        let version = response.results[0]
            .applied_version
            .expect("Ack::Applied reports the version");
        let screen = query
            .screen(screen_request(member_id, &key.key, version, 2000))
            .await
            .expect("the screen shows the write");
        let at = shown(&screen, &key.key).expect("the key is on the screen");
        assert!(at >= version, "{}: shown {at} < applied {version}", key.key);
        if at == version {
            assert_eq!(screen.points.map(|p| p.balance), Some(balance));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_then_min_version_waits_for_the_listener() {
    let dir = TempDir::new("ryw-durable");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let (publisher, query) = (hub.client().await, hub.query().await);
    let mut members = Producer::new(Team::Members, 30, 1.0, 9);
    let mut waited = Duration::ZERO;
    for _ in 0..60 {
        let (event, key) = members.next_event();
        let version = event
            .source_version
            .expect("the producer versions its rows");
        let member_id = key.partition_key.parse().unwrap();
        publish(&publisher, vec![event.clone()], Ack::Durable).await;
        // Straight after the durable answer: the listener may not have applied it yet.
        let started = Instant::now();
        let screen = query
            .screen(screen_request(member_id, &key.key, version, 5000))
            .await
            .expect("the screen waits for the write");
        waited = waited.max(started.elapsed());
        assert!(shown(&screen, &key.key).is_some_and(|v| v >= version));
        let Payload::Member(m) = &event.payload else {
            unreachable!()
        };
        if shown(&screen, &key.key) == Some(version) {
            assert_eq!(screen.member.map(|r| r.member), Some(m.clone()));
        }
    }
    println!("longest wait for a durable write to show: {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_never_comes_is_deadline_exceeded_in_time() {
    let dir = TempDir::new("ryw-never");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let (publisher, query) = (hub.client().await, hub.query().await);
    let (event, key) = Producer::new(Team::Members, 5, 1.0, 2).next_event();
    let response = publish(&publisher, vec![event], Ack::Applied).await;
    let version = response.results[0].applied_version.unwrap();
    let member_id = key.partition_key.parse().unwrap();
    for (ask, max_wait_ms) in [(version + 1000, 300u32), (version + 1, 50)] {
        let started = Instant::now();
        let err = query
            .screen(screen_request(member_id, &key.key, ask, max_wait_ms))
            .await
            .expect_err("a version never published cannot be shown");
        let took = started.elapsed();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
        assert!(err.message().contains(&key.key), "{}", err.message());
        assert!(
            took >= Duration::from_millis(u64::from(max_wait_ms))
                && took < Duration::from_millis(u64::from(max_wait_ms) + 2000),
            "answered after {took:?} for a wait of {max_wait_ms} ms"
        );
    }
}
