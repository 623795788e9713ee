//! The partition directory in ZooKeeper (one znode, compare-and-set by znode version,
//! watched by every process), against a real ZooKeeper: two movers racing for the same
//! partitions from two sessions (exactly one compare-and-set wins each race), watches that
//! carry every change to the other process and are re-armed after a session expires, and a
//! hub process that finishes a move under load across a ZooKeeper outage of two session
//! timeouts.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arpc::registry::testing::{TestingServer, expire_session};
use arpc::registry::{Registry, ZooKeeper};
use arpc_example_datahub::control::{Control, ControlError, MoveRequest};
use arpc_example_datahub::directory::zookeeper::ZkDirectory;
use arpc_example_datahub::directory::{
    Backend, Directory, DirectoryError, MovePhase, ShardSpec, Target,
};
use arpc_example_datahub::partition::{Group, LogPartition, Lp};
use arpc_example_datahub::store::{ShardOptions, ShardSet};
use support::{HubProcess, Load, TempDir, View, lost};

fn shards(dir: &std::path::Path) -> Vec<ShardSpec> {
    (0..4)
        .map(|i| ShardSpec {
            url: format!("sqlite:{}", dir.join(format!("shard-{i}.sqlite")).display()),
            added_ms: 0,
        })
        .collect()
}

async fn open(url: &str, dir: &std::path::Path) -> (Directory, Control) {
    let backend = Backend::ZooKeeper(ZkDirectory::connect(url).await.unwrap());
    let directory = Directory::open(backend, shards(dir)).await.unwrap();
    let set = ShardSet::new(directory.clone(), ShardOptions::default());
    let control = Control::new(directory.clone(), set, 8, None);
    (directory, control)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_movers_one_wins_and_watches_carry_changes() {
    let zk = TestingServer::start(Duration::from_millis(100)).expect("ZooKeeper starts");
    let url = zk.url("/hub", Duration::from_secs(2));
    let dir = TempDir::new("zk-race");
    let (dir_a, control_a) = open(&url, dir.path()).await;
    let (dir_b, control_b) = open(&url, dir.path()).await;

    // Raw compare-and-set: both read the same version and write; exactly one wins.
    let base = dir_a.refresh().await.unwrap();
    let seen_by_b = dir_b.refresh().await.unwrap();
    assert_eq!(base.version, seen_by_b.version);
    let mut a = base.state.clone();
    a.concurrency.insert(Group::Member, 3);
    let mut b = seen_by_b.state.clone();
    b.concurrency.insert(Group::Member, 5);
    let (ra, rb) = tokio::join!(
        dir_a.try_update(&base, &a),
        dir_b.try_update(&seen_by_b, &b)
    );
    let wins = [ra.is_ok(), rb.is_ok()];
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{ra:?} / {rb:?}");
    assert!(
        matches!(ra, Err(DirectoryError::Conflict { .. }))
            || matches!(rb, Err(DirectoryError::Conflict { .. }))
    );

    // Movers racing for the same partitions: one move each, the other told it is moving.
    let mut won = [0, 0];
    for n in 0..20 {
        let lp = Lp {
            group: Group::Member,
            lp: 100 + n,
        };
        let to = (100 + n + 1) % 4;
        let request = MoveRequest::new(lp, to);
        let (a, b) = tokio::join!(
            control_a.move_partition(&request),
            control_b.move_partition(&request)
        );
        match (&a, &b) {
            (Ok(_), Err(ControlError::Invalid(m))) | (Err(ControlError::Invalid(m)), Ok(_)) => {
                assert!(m.contains("already moving"), "{m}");
            }
            other => panic!("race {n}: expected exactly one winner, got {other:?}"),
        }
        won[usize::from(b.is_ok())] += 1;
        let state = dir_a.refresh().await.unwrap();
        assert_eq!(state.state.moves.iter().filter(|m| m.lp == lp).count(), 1);
    }
    println!(
        "20 races: session A won {}, session B won {}",
        won[0], won[1]
    );

    // B's change reaches A through its watch.
    let p = LogPartition {
        group: Group::Seller,
        partition: 2,
    };
    control_b
        .pause(Target::Partition(p), "watch me")
        .await
        .unwrap();
    wait_for(
        &dir_a,
        |d| d.state.pause_of(p).is_some(),
        "A sees B's pause",
    )
    .await;

    // After A's session expires, its watch is armed again in the new session.
    let registry: ZooKeeper = match Registry::from_url(&url).unwrap() {
        Registry::ZooKeeper(z) => z,
        Registry::Static(_) => unreachable!(),
    };
    let backend = Backend::ZooKeeper(ZkDirectory::with_registry(registry.clone()));
    let dir_c = Directory::open(backend, Vec::new()).await.unwrap();
    expire_session(&registry)
        .await
        .expect("the session expires");
    control_b.resume(Target::Partition(p)).await.unwrap();
    wait_for(
        &dir_c,
        |d| d.state.pause_of(p).is_none(),
        "the watch works after expiry",
    )
    .await;
}

async fn wait_for(
    directory: &Directory,
    cond: impl Fn(&arpc_example_datahub::directory::Snapshot) -> bool,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond(&directory.snapshot()) {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_finishes_across_a_zookeeper_outage() {
    let mut zk = TestingServer::start(Duration::from_millis(100)).expect("ZooKeeper starts");
    let session = Duration::from_secs(2);
    let url = zk.url("/hub", session);
    let dir = TempDir::new("zk-move");
    let hub = HubProcess::start(dir.path(), &["--zookeeper", &url], &[]);
    let backend = Backend::ZooKeeper(ZkDirectory::connect(&url).await.unwrap());
    let view = Arc::new(View::with_backend(dir.path(), 8, backend).await);
    let load = Load::start(&hub, 2000, 1.1, 100, Duration::from_millis(20)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let shard = view
        .control
        .add_shard(&format!(
            "sqlite:{}",
            dir.path().join("shards/shard-4.sqlite").display()
        ))
        .await
        .unwrap();
    let lp = arpc_example_datahub::partition::logical_partition(Group::Member, "1");
    let mut request = MoveRequest::new(lp, shard);
    request.grace_ms = 0;
    request.rows_per_s = 1000; // slow enough to be mid-backfill when ZooKeeper goes
    let job = view.control.move_partition(&request).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while view
        .control
        .move_status(job.id)
        .await
        .unwrap()
        .unwrap()
        .phase
        != MovePhase::Backfill
    {
        assert!(Instant::now() < deadline, "the backfill started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = load.sent.load(std::sync::atomic::Ordering::Relaxed);
    zk.stop();
    tokio::time::sleep(session * 2).await;
    let during = load.sent.load(std::sync::atomic::Ordering::Relaxed) - before;
    zk.restart().expect("ZooKeeper restarts");
    let done = view.finish_move(job.id, Duration::from_secs(60)).await;
    let acked = load.stop().await;
    view.caught_up(Duration::from_secs(60)).await;
    let lost = lost(&view, &acked).await;
    println!(
        "ZooKeeper down {:?}: {during} events acknowledged meanwhile; move {} ({} rows, \
         pause {:?} ms); {} keys checked, {lost} lost",
        session * 2,
        done.phase.name(),
        done.copied,
        done.pause_ms,
        acked.len()
    );
    assert!(during > 0, "publishing went on without ZooKeeper");
    assert_eq!(done.phase, MovePhase::Done);
    assert_eq!(lost, 0);
}
