//! The screen cache: a read after an applied update never returns the old version (the
//! commit stage invalidates before it reports the batch applied), and concurrent misses for
//! one owner make one shard read (coalescing), counted by the hub.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arpc_example_datahub::hub::{Hub, HubConfig};
use arpc_example_datahub::model::{Ack, ScreenRequest};
use arpc_example_datahub::workload::{Producer, Team};
use arpc_example_datahub::{PublisherClient, QueryClient};
use support::{HubProcess, TempDir, publish};

fn screen(member_id: u64, seller_id: u64) -> ScreenRequest {
    ScreenRequest {
        member_id,
        seller_id,
        items: 10,
        ..ScreenRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_an_applied_update_never_returns_the_old_version() {
    let dir = TempDir::new("cache-invalidation");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let (publisher, query) = (hub.client().await, hub.query().await);
    // One member, one seller, updated over and over; every update is read straight after its
    // answer, from a cache that holds the screen from before (its TTL is 10 s).
    let mut member = Producer::new(Team::Members, 1, 1.0, 1);
    let mut seller = Producer::new(Team::Sellers, 10, 1.0, 1);
    for round in 0..150 {
        let (event, key) = if round % 2 == 0 {
            member.next_event()
        } else {
            seller.next_event()
        };
        let seller_id = if key.key.starts_with("seller:") {
            key.partition_key.parse().unwrap()
        } else {
            1
        };
        // Warm the cache with the screen as it is now.
        query.screen(screen(1, seller_id)).await.expect("screen");
        let response = publish(&publisher, vec![event], Ack::Applied).await;
        let applied = response.results[0].applied_version.expect("applied");
        let after = query.screen(screen(1, seller_id)).await.expect("screen");
        let shown = after
            .versions
            .iter()
            .find(|v| v.key == key.key)
            .map(|v| v.version);
        assert_eq!(
            shown,
            Some(applied),
            "round {round}: {} read after its applied update",
            key.key
        );
    }
}

/// A hub in this process (so its counters can be read), serving on a loopback port.
async fn in_process_hub(dir: &std::path::Path) -> (Arc<Hub>, String) {
    let hub = Arc::new(
        Hub::open(HubConfig::embedded(dir))
            .await
            .expect("hub opens"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let serving = Arc::clone(&hub);
    tokio::spawn(async move {
        serving.serve(listener, std::future::pending::<()>()).await;
    });
    (hub, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_owner_make_one_shard_read() {
    let dir = TempDir::new("cache-coalescing");
    let (hub, addr) = in_process_hub(dir.path()).await;
    let publisher = PublisherClient::connect(addr.clone()).await.unwrap();
    let query = QueryClient::connect(addr).await.unwrap();
    // Rows for 40 members and 40 sellers' items.
    for team in [Team::Members, Team::Benefits, Team::Points, Team::Items] {
        let mut producer = Producer::new(team, 400, 0.0, 4);
        let events = (0..400).map(|_| producer.next_event().0).collect();
        publish(&publisher, events, Ack::Applied).await;
    }
    let (stats, reads) = (hub.query.cache_stats(), &hub.query.stats().shard_reads);
    let mut coalesced_rounds = 0;
    for owner in 1..=10u64 {
        let loads_before = stats.loads.load(Ordering::SeqCst);
        let reads_before = reads.load(Ordering::SeqCst);
        let coalesced_before = stats.coalesced.load(Ordering::SeqCst);
        // 32 callers ask for one screen no one has read before, all at once.
        let calls: Vec<_> = (0..32)
            .map(|_| {
                let query = query.clone();
                tokio::spawn(async move { query.screen(screen(owner, owner)).await })
            })
            .collect();
        let mut screens = Vec::new();
        for call in calls {
            screens.push(call.await.unwrap().expect("screen"));
        }
        assert!(
            screens.windows(2).all(|w| w[0] == w[1]),
            "one screen for all"
        );
        let loads = stats.loads.load(Ordering::SeqCst) - loads_before;
        let shard_reads = reads.load(Ordering::SeqCst) - reads_before;
        let coalesced = stats.coalesced.load(Ordering::SeqCst) - coalesced_before;
        assert_eq!(
            loads, 2,
            "owner {owner}: one load per owner (member, seller)"
        );
        assert_eq!(shard_reads, 2, "owner {owner}: one shard read per owner");
        if coalesced > 0 {
            coalesced_rounds += 1;
        }
        println!(
            "owner {owner}: 64 owner reads, {shard_reads} shard reads, {coalesced} joined a read in flight"
        );
    }
    assert!(
        coalesced_rounds > 0,
        "no round had concurrent misses, so coalescing was not exercised"
    );
    // And once loaded, reads are hits until something changes.
    let hits_before = stats.hits.load(Ordering::SeqCst);
    let started = Instant::now();
    for _ in 0..100 {
        query.screen(screen(3, 3)).await.unwrap();
    }
    assert_eq!(stats.hits.load(Ordering::SeqCst) - hits_before, 200);
    assert!(started.elapsed() < Duration::from_secs(30));
}
