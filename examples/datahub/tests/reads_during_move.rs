//! Screens read during partition moves: while the hottest member's and seller's partitions
//! are moved to a new shard (and one moved back) under publish load, screen readers over the
//! `Query` service see no error (a read that reaches the old shard after the fence gets
//! `MOVED`, and the hub refreshes its directory and reads again, invisibly), never see a
//! version go backwards, and never lose a row they saw before (the source's rows are deleted
//! after the move).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arpc_example_datahub::model::ScreenRequest;
use arpc_example_datahub::workload::Rng;
use support::{HubProcess, Load, TempDir, View, lost};

#[derive(Default, Debug)]
struct ReaderReport {
    screens: u64,
    errors: Vec<String>,
    regressions: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screens_read_during_moves_see_no_error_and_no_regression() {
    let dir = TempDir::new("reads-move");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let view = View::open(dir.path(), 8).await;
    let started = Instant::now();
    let load = Load::start(&hub, 3000, 1.1, 100, Duration::from_millis(20)).await;

    let reading = Arc::new(AtomicBool::new(true));
    let mut readers = Vec::new();
    for seed in 0..3 {
        let (query, reading) = (hub.query().await, Arc::clone(&reading));
        readers.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            let mut seen: HashMap<String, u64> = HashMap::new();
            let mut report = ReaderReport::default();
            while reading.load(Ordering::Acquire) {
                // The hottest members and sellers: the partitions being moved.
                let request = ScreenRequest {
                    member_id: 1 + rng.below(3),
                    seller_id: 1 + rng.below(3),
                    items: 20,
                    ..ScreenRequest::default()
                };
                let request_ids = (request.member_id, request.seller_id);
                match query.screen(request).await {
                    Ok(screen) => {
                        report.screens += 1;
                        // A member, their points or a seller once shown never disappears
                        // (nothing is deleted here): a read of the old shard after the
                        // move's cleanup would lose them.
                        for (key, id) in [
                            ("member", request_ids.0),
                            ("points", request_ids.0),
                            ("seller", request_ids.1),
                        ] {
                            let key = format!("{key}:{id}");
                            if seen.contains_key(&key)
                                && !screen.versions.iter().any(|v| v.key == key)
                            {
                                report.regressions.push(format!("{key} disappeared"));
                            }
                        }
                        for v in screen.versions {
                            let last = seen.entry(v.key.clone()).or_insert(0);
                            if v.version < *last {
                                report
                                    .regressions
                                    .push(format!("{} went from {last} to {}", v.key, v.version));
                            }
                            *last = (*last).max(v.version);
                        }
                    }
                    Err(e) => report.errors.push(format!("{e:?}")),
                }
            }
            report
        }));
    }

    tokio::time::sleep(Duration::from_secs(4)).await;
    let shard = view.add_sqlite_shard(dir.path(), 4).await;
    view.move_hottest_and_back(shard).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let acked = load.stop().await;
    reading.store(false, Ordering::Release);
    let mut total = ReaderReport::default();
    for r in readers {
        let r = r.await.unwrap();
        total.screens += r.screens;
        total.errors.extend(r.errors);
        total.regressions.extend(r.regressions);
    }
    view.caught_up(Duration::from_secs(60)).await;
    let lost = lost(&view, &acked).await;
    println!(
        "{} screens read over {:?} during 3 moves; {} errors, {} regressions, {lost} lost",
        total.screens,
        started.elapsed(),
        total.errors.len(),
        total.regressions.len()
    );
    assert!(
        total.errors.is_empty(),
        "{:?}",
        &total.errors[..total.errors.len().min(5)]
    );
    assert!(
        total.regressions.is_empty(),
        "{:?}",
        &total.regressions[..total.regressions.len().min(5)]
    );
    assert!(total.screens > 300, "only {} screens read", total.screens);
    assert_eq!(lost, 0);
}
