//! A partition move survives its process being SIGKILLed at every step: the hub process is
//! started with a hold point (`DATAHUB_HOLD_AT`), stops there in the middle of a move under
//! load, is killed with SIGKILL, and is started again without the hold. The move then
//! finishes from the state in the directory, and nothing acknowledged is lost.

mod support;

use std::time::{Duration, Instant};

use arpc_example_datahub::control::MoveRequest;
use arpc_example_datahub::directory::MovePhase;
use arpc_example_datahub::partition::{Group, logical_partition};
use support::{HubProcess, Load, TempDir, View, lost};

const POINTS: [&str; 5] = [
    "dual_write_acked",
    "backfill_chunk",
    "verified",
    "fenced",
    "switched",
];

async fn crash_at(point: &str) {
    let dir = TempDir::new(&format!("crash-{point}"));
    let mut hub = HubProcess::start(dir.path(), &[], &[("DATAHUB_HOLD_AT", point)]);
    let view = View::open(dir.path(), 8).await;
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
    let lp = logical_partition(Group::Member, "1");
    let mut request = MoveRequest::new(lp, shard);
    request.grace_ms = 0;
    request.rows_per_s = 2000; // a slow backfill: several chunks
    let job = view.control.move_partition(&request).await.unwrap();
    assert!(
        hub.wait_line(&format!("holding at {point}"), Duration::from_secs(30)),
        "the hub reached {point}"
    );
    let at_kill = view.control.move_status(job.id).await.unwrap().unwrap();
    hub.kill();
    let killed = Instant::now();

    let hub = HubProcess::start(dir.path(), &[], &[]);
    let done = view.finish_move(job.id, Duration::from_secs(60)).await;
    let recovered = killed.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acked = load.stop().await;
    view.caught_up(Duration::from_secs(60)).await;
    let lost = lost(&view, &acked).await;
    let source = view.shards.get(done.from).await.unwrap();
    let target = view.shards.get(done.to).await.unwrap();
    let (left, moved) = (
        source.count(lp).await.unwrap(),
        target.count(lp).await.unwrap(),
    );
    println!(
        "killed at {point} (phase {}), restarted: move {} in {recovered:?} after the kill \
         ({} rows copied, write pause {:?} ms); {} keys checked, {lost} lost; rows of {lp}: \
         {left} on the source, {moved} on the target",
        at_kill.phase.name(),
        done.phase.name(),
        done.copied,
        done.pause_ms,
        acked.len()
    );
    drop(hub);
    assert_eq!(done.phase, MovePhase::Done, "{done:?}");
    assert_eq!(lost, 0);
    assert_eq!(left, 0, "the source was cleaned up");
    assert!(moved > 0, "the rows are on the target");
    assert_eq!(
        view.directory.refresh().await.unwrap().placement(lp).shard,
        shard
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_finishes_after_a_crash_at_every_step() {
    for point in POINTS {
        crash_at(point).await;
    }
}
