//! Moving hot partitions under load, against a real hub process: 60 s of Zipf-skewed
//! publishing from five teams while the hottest partitions are moved to a new shard and one
//! of them back again, with a reader checking versions all the while. Nothing acknowledged is
//! lost, no reader sees a version go backwards, and the write pause of every cutover is under
//! 100 ms.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arpc_example_datahub::partition::logical_partition;
use arpc_example_datahub::workload::Rng;
use support::{HubProcess, Load, TempDir, View, lost};

const SECONDS: u64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_partitions_move_without_loss_or_regression() {
    let dir = TempDir::new("move-load");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let view = Arc::new(View::open(dir.path(), 8).await);
    let started = Instant::now();
    let load = Load::start(&hub, 5000, 1.1, 100, Duration::from_millis(20)).await;

    // The reader: samples acknowledged keys (the hot ones most), never accepting a version
    // lower than one it saw.
    let reading = Arc::new(AtomicBool::new(true));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (view, acked, reading, reads) = (
            Arc::clone(&view),
            Arc::clone(&load.acked),
            Arc::clone(&reading),
            Arc::clone(&reads),
        );
        tokio::spawn(async move {
            let mut rng = Rng::new(5);
            let mut seen: HashMap<String, u64> = HashMap::new();
            let mut regressions = 0;
            while reading.load(Ordering::Acquire) {
                let keys: Vec<_> = acked
                    .lock()
                    .unwrap()
                    .values()
                    .take(500)
                    .map(|(k, _)| k.clone())
                    .collect();
                if keys.is_empty() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                for _ in 0..50 {
                    let k = &keys[usize::try_from(rng.below(keys.len() as u64)).unwrap()];
                    if let Some(row) = view.row(k).await {
                        reads.fetch_add(1, Ordering::Relaxed);
                        let last = seen.entry(k.key.clone()).or_insert(0);
                        if row.source_version < *last {
                            regressions += 1;
                        }
                        *last = (*last).max(row.source_version);
                    }
                }
            }
            regressions
        })
    };

    tokio::time::sleep(Duration::from_secs(8)).await;
    let shard = view.add_sqlite_shard(dir.path(), 4).await;
    // The hottest partitions: the first keys of the Zipf ranking, in both groups.
    let hot = [
        logical_partition(arpc_example_datahub::partition::Group::Member, "1"),
        logical_partition(arpc_example_datahub::partition::Group::Seller, "1"),
        logical_partition(arpc_example_datahub::partition::Group::Member, "2"),
    ];
    let mut jobs = Vec::new();
    for lp in hot {
        let job = view.run_move(lp, shard).await;
        println!(
            "moved {lp}: {} rows copied in {} ms, {} verify round(s), write pause {:.1} ms ({})",
            job.copied,
            job.updated_ms - job.created_ms,
            job.verify_rounds,
            job.pause_ms.unwrap(),
            job.pause_detail.as_deref().unwrap_or("?")
        );
        jobs.push(job);
    }
    // And the hottest back where it came from.
    let back = view.run_move(hot[0], jobs[0].from).await;
    println!(
        "moved {} back: write pause {:.1} ms",
        hot[0],
        back.pause_ms.unwrap()
    );
    jobs.push(back);

    let rest = Duration::from_secs(SECONDS).saturating_sub(started.elapsed());
    tokio::time::sleep(rest).await;
    let acked = load.stop().await;
    reading.store(false, Ordering::Release);
    let regressions = reader.await.unwrap();
    view.caught_up(Duration::from_secs(60)).await;
    let lost = lost(&view, &acked).await;
    let mut pauses: Vec<f64> = jobs.iter().map(|j| j.pause_ms.unwrap()).collect();
    pauses.sort_by(f64::total_cmp);
    let p99 = pauses[(pauses.len() * 99).div_ceil(100) - 1];
    println!(
        "{} events acknowledged over {:?}; {} keys checked, {lost} lost; {} reads, {regressions} \
         regressions; write pauses {pauses:?} ms (p99 {p99:.1} ms)",
        acked.values().map(|(_, v)| *v).sum::<u64>(),
        started.elapsed(),
        acked.len(),
        reads.load(Ordering::Relaxed)
    );
    assert_eq!(lost, 0);
    assert_eq!(regressions, 0);
    assert!(reads.load(Ordering::Relaxed) > 1000);
    assert!(p99 <= 100.0, "write pause p99 {p99} ms");
    for (i, j) in jobs.iter().enumerate() {
        if jobs[i + 1..].iter().any(|later| later.lp == j.lp) {
            continue; // moved again: its source of then is a target now
        }
        let source = view.shards.get(j.from).await.unwrap();
        assert_eq!(
            source.count(j.lp).await.unwrap(),
            0,
            "{} left on the source",
            j.lp
        );
    }
}
