//! The data hub's write side against the parts it is built on, side by side in one run:
//!
//! | row | hub | bare baseline | goal |
//! |---|---|---|---|
//! | G1 | publish, `Durable` ack (embedded log, group commit), 64 publishers × 100 events | the segment log appending pre-encoded events in batches of the size group commit reached, one `fdatasync` each | ≥ 0.5× |
//! | G2 | publish → applied on 4 SQLite shards | the same rows upserted into 4 SQLite files with the same pragmas, 1,000 per transaction, a thread per shard | ≥ 0.7× |
//! | G3 | publish → applied on 4 PostgreSQL shards | the same rows upserted with the same `unnest` statement, 1,000 per statement, a task per shard | ≥ 0.7× |
//! | G4 | Kafka-mode publish (tansu, in memory) | an idempotent rdkafka producer sending the same records | ≥ 0.7× |
//! | G5 | Kafka-mode publish → applied | a producer → group-consumer pipe that only counts | ≥ 0.6× |
//! | G8 | publish → applied latency p99 at half of G2's throughput (paced publishers, a fresh hub) | — | ≤ 200 ms |
//! | move | write pauses of partition moves under load, and copy time per 100k rows | — | pause p99 ≤ 100 ms |
//!
//! The hub runs as its own process (`datahub serve`, release build); its CPU time is read from
//! `/proc` to give events per core-second and the cores the seed's 231k events/s would need.
//! The load generator runs in this process, on the same two cores: the hub's figures are
//! therefore conservative. `cargo bench -p arpc-example-datahub --features kafka,postgres
//! --bench ingest` writes `target/arpc-bench/datahub.json` and the table in
//! `benches/README.md`. Run without `--bench` (as `cargo test` does) it does a short smoke run
//! of the embedded rows only and writes nothing.

// Figures are counts and rates of a run: float ↔ integer conversions here are arithmetic on
// measurements, not on data that could overflow.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arpc_benches::report;
use arpc_example_datahub::control::MoveRequest;
use arpc_example_datahub::dag::{Batch, BatchKind, stages};
use arpc_example_datahub::directory::MovePhase;
use arpc_example_datahub::log::group_commit::Append;
use arpc_example_datahub::log::{LogConfig, LogRecord, SegmentLog};
use arpc_example_datahub::model::{Ack, ItemStatus};
use arpc_example_datahub::partition::{Group, LogPartition, log_partition, logical_partition};
use arpc_example_datahub::publisher::encode;
use arpc_example_datahub::store::{Row, RowWrite};
use arpc_example_datahub::workload::{Producer, Team};
use serde_json::json;
use support::{HubProcess, TempDir, View, cpu_seconds, publish};

/// The seed's ingest, events per second.
const SEED_INGEST: f64 = 231_000.0;
const PUBLISHERS: usize = 64;
const BATCH: usize = 100;

struct Settings {
    seconds: u64,
    real: bool,
}

/// Publishes from `PUBLISHERS` tasks (disjoint keys) for `seconds`; returns events accepted.
async fn drive(hub: &HubProcess, seconds: u64) -> u64 {
    let accepted = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(hub.client().await);
    }
    let mut tasks = Vec::new();
    for i in 0..PUBLISHERS {
        let client = clients[i % clients.len()].clone();
        let (accepted, running) = (Arc::clone(&accepted), Arc::clone(&running));
        tasks.push(tokio::spawn(async move {
            let team = Team::ALL[i % Team::ALL.len()];
            let mut producer =
                Producer::new(team, 20_000, 0.9, i as u64).offset(i as u64 * 1_000_000);
            while running.load(Ordering::Acquire) {
                let events: Vec<_> = (0..BATCH).map(|_| producer.next_event().0).collect();
                let r = publish(&client, events, Ack::Durable).await;
                let ok = r
                    .results
                    .iter()
                    .filter(|x| x.status == ItemStatus::Accepted)
                    .count();
                accepted.fetch_add(ok as u64, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    running.store(false, Ordering::Release);
    for t in tasks {
        let _ = t.await;
    }
    accepted.load(Ordering::Relaxed)
}

/// Events like the load's, encoded as the log stores them, with their partitions.
fn records(n: usize, partitions: u32) -> Vec<Append> {
    let mut producers: Vec<Producer> = Team::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| Producer::new(*t, 20_000, 0.9, 7).offset(i as u64 * 1_000_000))
        .collect();
    (0..n)
        .map(|i| {
            let n = producers.len();
            let (e, k) = producers[i % n].next_event();
            Append {
                partition: log_partition(k.group, &e.partition_key, partitions),
                key: bytes::Bytes::from(e.partition_key.clone()),
                value: encode(&e),
            }
        })
        .collect()
}

/// The rows the listener would store for `records` (through the hub's own stages).
fn rows_of(records: &[Append]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let mut batch = Batch::new(r.partition, BatchKind::Live, i as u64, i as u64 + 1);
        batch.raw = vec![LogRecord {
            partition: r.partition,
            offset: i as u64,
            timestamp_ms: 0,
            key: r.key.clone(),
            value: r.value.clone(),
        }];
        stages::decode_validate(&mut batch);
        stages::enrich(&mut batch);
        stages::project(&mut batch);
        rows.extend(batch.rows.into_iter().map(|p| p.row));
    }
    rows
}

/// G1's baseline: pre-encoded records appended in batches of `batch`, one sync each.
fn bare_log(records: &[Append], batch: usize, seconds: u64) -> f64 {
    let dir = TempDir::new("bench-bare-log");
    let log = SegmentLog::open(dir.path().join("log"), LogConfig::with_partitions(8)).unwrap();
    let started = Instant::now();
    let mut written = 0usize;
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        let chunk: Vec<&Append> = (0..batch)
            .map(|k| &records[(i + k) % records.len()])
            .collect();
        i += batch;
        let mut touched = Vec::new();
        let mut by: std::collections::BTreeMap<LogPartition, Vec<&Append>> = Default::default();
        for a in chunk {
            by.entry(a.partition).or_default().push(a);
        }
        for (p, recs) in by {
            log.append(p, recs.iter().map(|a| (a.key.as_ref(), a.value.as_ref())))
                .unwrap();
            touched.push(p);
        }
        log.sync(&touched).unwrap();
        written += batch;
    }
    written as f64 / started.elapsed().as_secs_f64()
}

/// G2's baseline: the rows upserted into 4 SQLite files (same pragmas, the hub's statement),
/// 1,000 per transaction sorted by key, a thread per shard.
fn bare_sqlite(rows: &[Row]) -> f64 {
    let dir = TempDir::new("bench-bare-sqlite");
    let mut per_shard: Vec<Vec<RowWrite>> = vec![Vec::new(); 4];
    for r in rows {
        per_shard[(r.lp.lp % 4) as usize].push(RowWrite {
            row: r.clone(),
            epoch: 0,
        });
    }
    let started = Instant::now();
    std::thread::scope(|s| {
        for (i, shard_rows) in per_shard.iter().enumerate() {
            let path = dir.path().join(format!("bare-{i}.sqlite"));
            s.spawn(move || {
                let mut conn = arpc_example_datahub::store::sqlite::connect(&path, true).unwrap();
                conn.execute_batch(arpc_example_datahub::store::sqlite::SCHEMA)
                    .unwrap();
                for chunk in shard_rows.chunks(1000) {
                    let mut sorted = chunk.to_vec();
                    sorted.sort_by(|a, b| {
                        (a.row.lp, a.row.domain.id(), &a.row.key).cmp(&(
                            b.row.lp,
                            b.row.domain.id(),
                            &b.row.key,
                        ))
                    });
                    arpc_example_datahub::store::sqlite::write_transaction(&mut conn, &sorted)
                        .unwrap();
                }
            });
        }
    });
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

/// Publishes `n` events as fast as the publishers go, then waits until the listener has
/// applied all; returns (events/s publish→applied, hub CPU seconds).
async fn publish_to_applied(hub: &HubProcess, view: &View, seconds: u64) -> (f64, u64, f64) {
    let cpu0 = cpu_seconds(hub.pid());
    let started = Instant::now();
    let accepted = drive(hub, seconds).await;
    view.caught_up(Duration::from_secs(600)).await;
    let elapsed = started.elapsed().as_secs_f64();
    (
        accepted as f64 / elapsed,
        accepted,
        cpu_seconds(hub.pid()) - cpu0,
    )
}

#[derive(Default)]
struct Results {
    rows: Vec<(String, String, f64, f64, f64, String)>,
    json: Vec<serde_json::Value>,
}

impl Results {
    fn ratio(&mut self, id: &str, what: &str, hub: f64, bare: f64, goal: f64, unit: &str) {
        let ratio = hub / bare;
        println!(
            "{id}: {what}: hub {hub:.0} {unit}, bare {bare:.0} {unit}, ratio {ratio:.2} (goal ≥ {goal})"
        );
        self.json.push(json!({"id": id, "what": what, "hub": hub, "bare": bare, "ratio": ratio, "goal": goal, "unit": unit}));
        self.rows
            .push((id.into(), what.into(), hub, bare, goal, unit.into()));
    }
}

async fn g1(s: &Settings, out: &mut Results) {
    // G1: publish only (no listener in the hub process).
    let dir = TempDir::new("bench-g1");
    let hub = HubProcess::start(dir.path(), &["--no-listener"], &[]);
    let cpu0 = cpu_seconds(hub.pid());
    let started = Instant::now();
    let accepted = drive(&hub, s.seconds).await;
    let hub_rate = accepted as f64 / started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(hub.pid()) - cpu0;
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The batch size group commit reached: records per fdatasync, from the hub's counters.
    let view = View::open(dir.path(), 8).await;
    let stats = view.meta.statuses().await.unwrap();
    drop(hub);
    let counters: serde_json::Value = stats
        .iter()
        .find(|(name, _, _)| name.starts_with("publisher-"))
        .and_then(|(_, doc, _)| serde_json::from_str(doc).ok())
        .unwrap_or_default();
    let commits = counters["commits"].as_f64().unwrap_or(1.0).max(1.0);
    let group = ((counters["records"].as_f64().unwrap_or(0.0) / commits).round() as usize).max(1);
    let recs = records(200_000, 8);
    let bare_1000 = bare_log(&recs, 1000, s.seconds.min(5));
    let bare_same = bare_log(&recs, group, s.seconds.min(5));
    out.ratio(
        "G1",
        &format!("publish Durable vs bare log append, batch ≈{group}"),
        hub_rate,
        bare_same,
        0.5,
        "events/s",
    );
    let per_core = accepted as f64 / cpu.max(1e-9);
    println!(
        "G1: hub CPU {cpu:.1} s for {accepted} events: {per_core:.0} events/s per core → {:.1} cores for {SEED_INGEST} events/s (bare log at batch 1000: {bare_1000:.0} rec/s)",
        SEED_INGEST / per_core
    );
    out.json.push(json!({"id": "G1-cores", "events_per_core_s": per_core, "cores_for_seed": SEED_INGEST / per_core, "bare_log_batch_1000": bare_1000}));
}

async fn g2(s: &Settings, out: &mut Results) -> f64 {
    // G2: publish → applied on SQLite shards, against bare upserts of the same rows.
    let dir = TempDir::new("bench-g2");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let view = View::open(dir.path(), 8).await;
    let (rate, accepted, cpu) = publish_to_applied(&hub, &view, s.seconds).await;
    drop(hub);
    let recs = records(
        usize::try_from(accepted)
            .unwrap_or(0)
            .clamp(10_000, 400_000),
        8,
    );
    let rows = rows_of(&recs);
    let rows_per_event = rows.len() as f64 / recs.len() as f64;
    let bare = bare_sqlite(&rows);
    out.ratio(
        "G2",
        "publish → applied on 4 SQLite shards vs bare SQLite upserts (rows/s)",
        rate * rows_per_event,
        bare,
        0.7,
        "rows/s",
    );
    let per_core = accepted as f64 / cpu.max(1e-9);
    println!(
        "G2: {rate:.0} events/s applied; hub CPU {cpu:.1} s: {per_core:.0} events/s per core → {:.1} cores for {SEED_INGEST} events/s",
        SEED_INGEST / per_core
    );
    out.json.push(json!({"id": "G2-cores", "events_per_core_s": per_core, "cores_for_seed": SEED_INGEST / per_core, "events_per_s": rate}));
    rate
}

/// Publishes about `rate` events/s (8 publishers, batches of `BATCH`, paced) for `seconds`;
/// returns the events accepted.
async fn drive_paced(hub: &HubProcess, rate: f64, seconds: u64) -> u64 {
    const PACED: usize = 8;
    let accepted = Arc::new(AtomicU64::new(0));
    let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let every = Duration::from_secs_f64((BATCH * PACED) as f64 / rate.max(1.0));
    let mut tasks = Vec::new();
    for i in 0..PACED {
        let (client, accepted) = (hub.client().await, Arc::clone(&accepted));
        tasks.push(tokio::spawn(async move {
            let team = Team::ALL[i % Team::ALL.len()];
            let mut producer =
                Producer::new(team, 20_000, 0.9, 100 + i as u64).offset(i as u64 * 1_000_000);
            let mut next = tokio::time::Instant::now();
            while next < until {
                let events: Vec<_> = (0..BATCH).map(|_| producer.next_event().0).collect();
                let r = publish(&client, events, Ack::Durable).await;
                let ok = r
                    .results
                    .iter()
                    .filter(|x| x.status == ItemStatus::Accepted)
                    .count();
                accepted.fetch_add(ok as u64, Ordering::Relaxed);
                next += every;
                tokio::time::sleep_until(next).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    accepted.load(Ordering::Relaxed)
}

/// G8: publish → applied latency at half the throughput G2 measured, on a fresh hub (its
/// latency histogram then holds only this load).
async fn g8(s: &Settings, g2_rate: f64, out: &mut Results) {
    let dir = TempDir::new("bench-g8");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let view = View::open(dir.path(), 8).await;
    let target = g2_rate / 2.0;
    let started = Instant::now();
    let accepted = drive_paced(&hub, target, s.seconds).await;
    let achieved = accepted as f64 / started.elapsed().as_secs_f64();
    let status = view.caught_up(Duration::from_secs(120)).await;
    let lat = &status.latency_ms;
    println!(
        "G8: publish → applied at {achieved:.0} events/s (half of G2's {g2_rate:.0}): {} \
         events, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (goal p99 ≤ 200 ms)",
        lat.count, lat.p50, lat.p99, lat.max
    );
    out.json.push(json!({"id": "G8", "events_per_s": achieved, "g2_events_per_s": g2_rate, "p50_ms": lat.p50, "p99_ms": lat.p99, "max_ms": lat.max, "goal_p99_ms": 200}));
}

/// `n` benefits of one member: `n` rows in one logical partition.
async fn fill_partition(hub: &HubProcess, member: u64, n: u64) {
    use arpc_example_datahub::model::{Benefit, BenefitKind, Event, Payload};
    let client = hub.client().await;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let events: Vec<Event> = chunk
            .iter()
            .map(|i| Event {
                event_id: format!("fill-{member}-{i}"),
                partition_key: member.to_string(),
                key: format!("benefit:{}", 50_000_000 + i),
                source_version: Some(1),
                occurred_at_ms: 0,
                payload: Payload::Benefit(Benefit {
                    benefit_id: 50_000_000 + i,
                    member_id: member,
                    kind: BenefitKind::Discount(10),
                    title: "ten percent off everything in the kitchen".into(),
                    expires_at: 1_900_000_000,
                }),
                trace_id: None,
            })
            .collect();
        let r = publish(&client, events, Ack::Durable).await;
        assert!(r.results.iter().all(|x| x.status == ItemStatus::Accepted));
    }
}

async fn run_move(
    view: &View,
    lp: arpc_example_datahub::partition::Lp,
    to: u32,
) -> arpc_example_datahub::directory::MoveJob {
    let mut request = MoveRequest::new(lp, to);
    request.grace_ms = 0;
    request.rows_per_s = 10_000_000; // no throttle: measure the copy itself
    let job = view.control.move_partition(&request).await.unwrap();
    let done = view.finish_move(job.id, Duration::from_secs(120)).await;
    assert_eq!(done.phase, MovePhase::Done, "{done:?}");
    done
}

async fn moves(s: &Settings, out: &mut Results) {
    let dir = TempDir::new("bench-move");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let view = View::open(dir.path(), 8).await;
    // One partition of 100k rows (10k in a smoke run), then light Zipf load from five teams.
    let big_member = 9_999_999;
    let rows = if s.real { 100_000 } else { 10_000 };
    fill_partition(&hub, big_member, rows).await;
    view.caught_up(Duration::from_secs(300)).await;
    let load = support::Load::start(&hub, 5000, 1.1, 100, Duration::from_millis(20)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let target = view
        .control
        .add_shard(&format!(
            "sqlite:{}",
            dir.path().join("shards/shard-4.sqlite").display()
        ))
        .await
        .unwrap();
    let big = run_move(
        &view,
        logical_partition(Group::Member, &big_member.to_string()),
        target,
    )
    .await;
    let to_switch = (big.cutover_ms.unwrap_or(big.updated_ms) - big.created_ms) as f64;
    let per_100k = to_switch / big.copied.max(1) as f64 * 100_000.0;
    let mut pauses = vec![big.pause_ms.unwrap_or(0.0)];
    // More moves of the hot partitions, for the pause distribution.
    let count = if s.real { 12 } else { 2 };
    for n in 1..=count {
        let group = if n % 2 == 0 {
            Group::Seller
        } else {
            Group::Member
        };
        let lp = logical_partition(group, &n.to_string());
        let snapshot = view.directory.refresh().await.unwrap();
        let from = snapshot.placement(lp).shard;
        let to = if from == target { 0 } else { target };
        pauses.push(run_move(&view, lp, to).await.pause_ms.unwrap_or(0.0));
    }
    let _ = load.stop().await;
    pauses.sort_by(f64::total_cmp);
    let q = |v: &[f64], p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    println!(
        "move: a partition of {} rows to a new shard under load: {to_switch:.0} ms to the switch \
         ({per_100k:.0} ms per 100k rows), write pause {:.1} ms; {} moves: write pause p50 \
         {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        big.copied,
        big.pause_ms.unwrap_or(0.0),
        pauses.len(),
        q(&pauses, 0.5),
        q(&pauses, 0.99),
        pauses[pauses.len() - 1]
    );
    out.json.push(json!({"id": "move", "pauses_ms": pauses, "big_rows": big.copied, "big_ms_to_switch": to_switch, "ms_per_100k_rows": per_100k}));
}

#[cfg(feature = "postgres")]
async fn postgres(s: &Settings, out: &mut Results) {
    use arpc_example_datahub::testing::postgres::Cluster;
    let cluster = Cluster::start().unwrap();
    let urls: Vec<String> = (0..4)
        .map(|i| cluster.create_database(&format!("hub{i}")).unwrap())
        .collect();
    let dir = TempDir::new("bench-g3");
    let hub = HubProcess::start(dir.path(), &["--shards", &urls.join(",")], &[]);
    let view = View::open(dir.path(), 8).await;
    let (rate, accepted, _) = publish_to_applied(&hub, &view, s.seconds).await;
    drop(hub);
    let recs = records(
        usize::try_from(accepted)
            .unwrap_or(0)
            .clamp(10_000, 400_000),
        8,
    );
    let rows = rows_of(&recs);
    let rows_per_event = rows.len() as f64 / recs.len() as f64;
    let bare_urls: Vec<String> = (0..4)
        .map(|i| cluster.create_database(&format!("bare{i}")).unwrap())
        .collect();
    let mut per_shard: Vec<Vec<Row>> = vec![Vec::new(); 4];
    for r in rows {
        per_shard[(r.lp.lp % 4) as usize].push(r);
    }
    let started = Instant::now();
    let total: usize = per_shard.iter().map(Vec::len).sum();
    let mut tasks = Vec::new();
    for (url, rows) in bare_urls.into_iter().zip(per_shard) {
        tasks.push(tokio::spawn(async move {
            arpc_example_datahub::store::postgres::bare_unnest_upserts(&url, &rows, 1000)
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let bare = total as f64 / started.elapsed().as_secs_f64();
    out.ratio(
        "G3",
        "publish → applied on 4 PostgreSQL shards vs bare unnest upserts, 1000 rows (rows/s)",
        rate * rows_per_event,
        bare,
        0.7,
        "rows/s",
    );
}

#[cfg(feature = "kafka")]
async fn kafka(s: &Settings, out: &mut Results) {
    use arpc_example_datahub::log::kafka::{KafkaConfig, create_topics};
    use arpc_example_datahub::testing::tansu::{Broker, Storage};
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    // G4: publish through the hub vs a bare idempotent producer, same broker, same records.
    let broker = Broker::start(Storage::Memory).unwrap();
    let brokers = broker.brokers();
    let dir = TempDir::new("bench-g4");
    let hub = HubProcess::start(dir.path(), &["--kafka", &brokers, "--no-listener"], &[]);
    let started = Instant::now();
    let accepted = drive(&hub, s.seconds).await;
    let hub_rate = accepted as f64 / started.elapsed().as_secs_f64();
    drop(hub);
    drop(broker);

    let broker = Broker::start(Storage::Memory).unwrap();
    let brokers = broker.brokers();
    let config = KafkaConfig::new(brokers.clone(), "bench");
    create_topics(&config, 8, Duration::from_secs(30))
        .await
        .unwrap();
    let recs = records(
        usize::try_from(accepted)
            .unwrap_or(0)
            .clamp(10_000, 500_000),
        8,
    );
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    let bare_produce = |producer: FutureProducer, recs: Vec<Append>| async move {
        let started = Instant::now();
        let mut pending = std::collections::VecDeque::new();
        for r in &recs {
            let topic = r.partition.group.topic();
            let f = producer
                .send_result(
                    FutureRecord::to(&topic)
                        .key(r.key.as_ref())
                        .payload(r.value.as_ref()),
                )
                .map_err(|(e, _)| e)
                .unwrap();
            pending.push_back(f);
            if pending.len() >= 10_000 {
                let _ = pending.pop_front().unwrap().await;
            }
        }
        for f in pending {
            let _ = f.await;
        }
        recs.len() as f64 / started.elapsed().as_secs_f64()
    };
    let bare = bare_produce(producer.clone(), recs.clone()).await;
    out.ratio(
        "G4",
        "Kafka-mode publish vs bare idempotent producer",
        hub_rate,
        bare,
        0.7,
        "events/s",
    );

    // G5: end to end, hub (publisher + listener, SQLite shards) vs a producer → group
    // consumer pipe that only counts.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "bench-pipe")
        .set("auto.offset.reset", "latest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "20")
        .create()
        .unwrap();
    consumer
        .subscribe(&["datahub.member", "datahub.seller"])
        .unwrap();
    // Join the group before timing.
    let _ = tokio::time::timeout(Duration::from_secs(10), consumer.recv()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    let n = recs.len();
    let producing = tokio::spawn(bare_produce(producer, recs));
    let mut got = 0usize;
    while got < n {
        match tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await {
            Ok(Ok(_)) => got += 1,
            _ => break,
        }
    }
    let _ = producing.await;
    let bare_pipe = got as f64 / started.elapsed().as_secs_f64();
    drop(broker);

    let broker = Broker::start(Storage::Memory).unwrap();
    let dir = TempDir::new("bench-g5");
    let hub = HubProcess::start(dir.path(), &["--kafka", &broker.brokers()], &[]);
    let view = View::open(dir.path(), 8).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rate, _, _) = publish_to_applied(&hub, &view, s.seconds).await;
    out.ratio(
        "G5",
        "Kafka-mode publish → applied vs bare producer → group consumer pipe",
        rate,
        bare_pipe,
        0.6,
        "events/s",
    );
}

fn markdown(results: &Results, machine: &str) -> String {
    let mut md = format!(
        "Measured on: {machine}.\n\n| goal | what | hub | bare | hub / bare | target |\n|---|---|---|---|---|---|\n"
    );
    for (id, what, hub, bare, goal, unit) in &results.rows {
        md.push_str(&format!(
            "| {id} | {what} | {hub:.0} {unit} | {bare:.0} {unit} | **{:.2}** | ≥ {goal} |\n",
            hub / bare
        ));
    }
    for v in &results.json {
        match v["id"].as_str() {
            Some(id @ ("G1-cores" | "G2-cores")) => md.push_str(&format!(
                "\n\n{id}: {:.0} events/s per hub core → {:.1} cores for the seed's 231k events/s.",
                v["events_per_core_s"].as_f64().unwrap_or(0.0),
                v["cores_for_seed"].as_f64().unwrap_or(0.0)
            )),
            Some("G8") => md.push_str(&format!(
                "\n\nG8: publish → applied latency at {:.0} events/s (half of G2's {:.0}): p50 \
                 {:.0} ms, p99 **{:.0} ms** (goal ≤ 200 ms), max {:.0} ms.",
                v["events_per_s"].as_f64().unwrap_or(0.0),
                v["g2_events_per_s"].as_f64().unwrap_or(0.0),
                v["p50_ms"].as_f64().unwrap_or(0.0),
                v["p99_ms"].as_f64().unwrap_or(0.0),
                v["max_ms"].as_f64().unwrap_or(0.0)
            )),
            Some("move") => {
                let mut p: Vec<f64> = v["pauses_ms"]
                    .as_array()
                    .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
                    .unwrap_or_default();
                p.sort_by(f64::total_cmp);
                if let Some(max) = p.last() {
                    md.push_str(&format!(
                        "\n\nmove: a partition of {} rows moved to a new shard under load: {:.0} ms \
                         to the switch ({:.0} ms per 100k rows); write pauses of {} moves: p50 \
                         {:.1} ms, p99 = max {:.1} ms (goal ≤ 100 ms).",
                        v["big_rows"].as_u64().unwrap_or(0),
                        v["big_ms_to_switch"].as_f64().unwrap_or(0.0),
                        v["ms_per_100k_rows"].as_f64().unwrap_or(0.0),
                        p.len(),
                        p[p.len() / 2],
                        max
                    ));
                }
            }
            _ => {}
        }
    }
    md.push('\n');
    md
}

fn main() {
    let real = report::is_bench_run();
    let settings = Settings {
        seconds: if real { 15 } else { 2 },
        real,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut results = Results::default();
    // `DATAHUB_BENCH=g1,move` runs only those parts (for working on one figure); a partial
    // run prints but writes nothing.
    let only = std::env::var("DATAHUB_BENCH").ok();
    let run = |part: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p == part))
    };
    runtime.block_on(async {
        if run("g1") {
            g1(&settings, &mut results).await;
        }
        if run("g2") {
            let g2_rate = g2(&settings, &mut results).await;
            if run("g8") {
                g8(&settings, g2_rate, &mut results).await;
            }
        }
        if run("move") {
            moves(&settings, &mut results).await;
        }
        if real {
            #[cfg(feature = "postgres")]
            if run("g3") {
                postgres(&settings, &mut results).await;
            }
            #[cfg(feature = "kafka")]
            if run("kafka") {
                kafka(&settings, &mut results).await;
            }
        }
    });
    if !real || only.is_some() {
        return;
    }
    let machine = report::machine();
    let path = report::write_json(
        "datahub",
        &json!({ "machine": machine, "results": results.json }),
    )
    .unwrap();
    println!("wrote {}", path.display());
    report::splice_readme("datahub", &markdown(&results, &machine)).unwrap();
}
