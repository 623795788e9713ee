//! Cross-process cache invalidation: both query processes of a scaled-out hub hold a
//! member's screen in their caches (TTL 10 s); an update to the member is published, and
//! each shows the new version within 3 s, because the listener that applies it tells both
//! (`Caches.invalidate`, found through ZooKeeper) before it reports the batch applied.
//! Without that, the cached screens would be served until their TTL.

mod support;

use std::time::{Duration, Instant};

use arpc_example_datahub::model::{Ack, ScreenRequest};
use arpc_example_datahub::workload::{Producer, Team};
use support::publish;
use support::scaled::ScaledHub;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_invalidates_the_caches_of_other_processes() {
    let hub = ScaledHub::start("invalidation", 1, 2).await;
    hub.settled(1, Duration::from_secs(90)).await;
    let publisher = hub.publisher.client().await;
    let queries = [hub.queries[0].query().await, hub.queries[1].query().await];
    let mut member = Producer::new(Team::Members, 1, 1.0, 5);
    let screen = || ScreenRequest {
        member_id: 1,
        seller_id: 1,
        items: 1,
        ..ScreenRequest::default()
    };
    let shown = |s: &arpc_example_datahub::model::DisplayScreen, key: &str| {
        s.versions.iter().find(|v| v.key == key).map(|v| v.version)
    };
    let mut key = String::new();
    let mut stored = 0;
    // The member exists in both caches...
    let (event, k) = member.next_event();
    publish(&publisher, vec![event], Ack::Durable).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored == 0 {
        key = k.key.clone();
        stored = hub.view.row(&k).await.map_or(0, |r| r.source_version);
        assert!(Instant::now() < deadline, "the first version is stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for round in 0..5 {
        for q in &queries {
            let s = q.screen(screen()).await.expect("screen");
            assert!(shown(&s, &key).is_some(), "the member is shown");
        }
        // ...then is updated.
        let (event, k) = member.next_event();
        let version = event.source_version.expect("a source version");
        publish(&publisher, vec![event], Ack::Durable).await;
        let published = Instant::now();
        for (i, q) in queries.iter().enumerate() {
            loop {
                let s = q.screen(screen()).await.expect("screen");
                if shown(&s, &k.key).is_some_and(|v| v >= version) {
                    break;
                }
                assert!(
                    published.elapsed() < Duration::from_secs(3),
                    "round {round}: query process {i} still shows {:?} of {} 3 s after v{version} was published",
                    shown(&s, &k.key),
                    k.key
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        println!(
            "round {round}: v{version} shown by both query processes after {:?}",
            published.elapsed()
        );
    }
}
