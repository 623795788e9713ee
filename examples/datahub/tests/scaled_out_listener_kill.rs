//! The scaled-out hub (publisher, two listeners, two query processes; ZooKeeper, tansu,
//! PostgreSQL): one listener is SIGKILLed under publish load. The other takes over all of
//! its partitions once the killed one's ZooKeeper session ends, and nothing acknowledged is
//! lost.

mod support;

use std::time::{Duration, Instant};

use support::scaled::ScaledHub;
use support::{Load, lost_within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_hands_its_partitions_over_and_nothing_is_lost() {
    let mut hub = ScaledHub::start("listener-kill", 2, 2).await;
    let load = Load::start(&hub.publisher, 3000, 1.0, 100, Duration::from_millis(20)).await;
    let before = hub.settled(2, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let victim = &hub.listeners[0];
    let name = format!("listener-{}", victim.pid());
    let had = before
        .iter()
        .find(|s| s.listener == name)
        .map(|s| s.partitions.len())
        .expect("the first listener reports");
    assert!(had > 0, "{name} owned partitions before the kill");
    hub.listeners[0].kill();
    let killed = Instant::now();
    let after = hub.settled(1, Duration::from_secs(90)).await;
    assert_ne!(
        after[0].listener, name,
        "the survivor holds every partition"
    );
    println!(
        "{name} held {had} partitions; all {} on {} {:?} after the kill",
        after[0].partitions.len(),
        after[0].listener,
        killed.elapsed()
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let acked = load.stop().await;
    assert!(
        acked.len() > 1000,
        "the load published: {} keys",
        acked.len()
    );
    let lost = lost_within(&hub.view, &acked, Duration::from_secs(90)).await;
    println!(
        "{} keys checked after the failover: {lost} lost",
        acked.len()
    );
    assert_eq!(lost, 0);
}
