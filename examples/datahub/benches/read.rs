//! The data hub's read path against a bare arpc echo of the same screen, side by side in one
//! run:
//!
//! | row | hub | baseline | goal |
//! |---|---|---|---|
//! | G6 | `Query.screen`, cache hit, 32 concurrent callers, per codec | `datahub echo-screen`: a `Query` service in its own process answering every call with that same screen, nothing else | ≥ 0.8× |
//! | G7 | `Query.screen`, cache off (every screen is two shard reads), 32 callers, per codec | the same echo | ≥ 0.3× |
//! | move | read p99 while the hottest partitions move, under publish load | read p99 under the same load without a move | ≤ 2× |
//!
//! Also per codec: the screen's encoded size and the time per screen, and, from the hub
//! process's CPU time (`/proc`), screens per core-second and the cores the seed's 117k
//! screens/s would need. The hub and the echo run as their own release processes; the
//! callers run in this process, on the same two cores. `cargo bench -p arpc-example-datahub
//! --bench read` writes `target/arpc-bench/datahub-read.json` and the table in
//! `benches/README.md`; without `--bench` (as `cargo test` runs it) it does a short smoke run
//! and writes nothing.

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

use arpc::client::CallOptions;
use arpc::codec::{CodecKind, CodecSet};
use arpc_benches::report;
use arpc_example_datahub::QueryClient;
use arpc_example_datahub::model::{Ack, DisplayScreen, ScreenRequest};
use arpc_example_datahub::workload::{Producer, Rng, Team};
use serde_json::json;
use support::{HubProcess, Load, TempDir, View, cpu_seconds, publish};

/// The seed's reads, screens per second.
const SEED_READS: f64 = 117_000.0;
const CALLERS: usize = 32;
/// Members (and a tenth as many sellers) with rows.
const KEYS: u64 = 400;
const CODECS: [CodecKind; 3] = [CodecKind::Postcard, CodecKind::Proto, CodecKind::Json];

struct Settings {
    seconds: u64,
    real: bool,
}

#[derive(Default)]
struct Results {
    /// (id, codec, hub calls/s, echo calls/s, goal)
    rows: Vec<(String, CodecKind, f64, f64, f64)>,
    json: Vec<serde_json::Value>,
    notes: Vec<String>,
}

fn request(member_id: u64, seller_id: u64) -> ScreenRequest {
    ScreenRequest {
        member_id,
        seller_id,
        items: 20,
        ..ScreenRequest::default()
    }
}

fn options(codec: CodecKind) -> CallOptions {
    CallOptions::default()
        .codec(codec)
        .accept(CodecSet::only(codec))
}

/// Publishes every team's events for `KEYS` members (uniform keys) with `Ack::Applied`, so
/// every screen has a profile, points, history, benefits, a shop and items.
async fn fill(hub: &HubProcess) {
    let publisher = hub.client().await;
    for team in Team::ALL {
        let mut producer = Producer::new(team, KEYS, 0.0, 21);
        for _ in 0..12 {
            let events = (0..100).map(|_| producer.next_event().0).collect();
            publish(&publisher, events, Ack::Applied).await;
        }
    }
}

/// `CALLERS` callers asking for screens in `codec` for `seconds`, each picking the owners
/// with `pick`; returns calls per second.
async fn drive(
    addr: &str,
    codec: CodecKind,
    seconds: f64,
    pick: fn(&mut Rng) -> (u64, u64),
) -> f64 {
    let calls = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(QueryClient::connect(addr.to_owned()).await.unwrap());
    }
    let mut tasks = Vec::new();
    for i in 0..CALLERS {
        let client = clients[i % clients.len()].clone();
        let (calls, running) = (Arc::clone(&calls), Arc::clone(&running));
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(i as u64 + 1);
            let options = options(codec);
            while running.load(Ordering::Acquire) {
                let (m, s) = pick(&mut rng);
                client
                    .screen_with(request(m, s), options.clone())
                    .await
                    .expect("screen");
                calls.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Warm up (connections, Auto's calibration, the cache) for a tenth of the time.
    tokio::time::sleep(Duration::from_secs_f64(seconds / 10.0)).await;
    let (start, at) = (calls.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let rate = (calls.load(Ordering::Relaxed) - start) as f64 / at.elapsed().as_secs_f64();
    running.store(false, Ordering::Release);
    for t in tasks {
        let _ = t.await;
    }
    rate
}

fn same_screen(_: &mut Rng) -> (u64, u64) {
    (1, 1)
}

fn any_screen(rng: &mut Rng) -> (u64, u64) {
    (1 + rng.below(KEYS), 1 + rng.below(KEYS / 10))
}

/// The encoded size of `screen` in `codec`.
fn size(screen: &DisplayScreen, codec: CodecKind) -> usize {
    let mut buf = bytes::BytesMut::new();
    codec.encode(screen, &mut buf).unwrap();
    buf.len()
}

async fn throughput(s: &Settings, out: &mut Results) {
    let dir = TempDir::new("bench-read");
    let hub = HubProcess::start(&dir.path().join("hub"), &[], &[]);
    fill(&hub).await;
    let screen = hub
        .query()
        .await
        .screen(request(1, 1))
        .await
        .expect("the screen of member 1 and seller 1");
    let screen_file = dir.path().join("screen.pb");
    let mut buf = bytes::BytesMut::new();
    CodecKind::Proto.encode(&screen, &mut buf).unwrap();
    std::fs::write(&screen_file, &buf).unwrap();
    let echo = HubProcess::spawn(
        &[
            "echo-screen".to_owned(),
            "--screen".to_owned(),
            screen_file.display().to_string(),
        ],
        &[],
    );
    let seconds = s.seconds as f64;
    for codec in CODECS {
        let bytes = size(&screen, codec);
        let echo_rate = drive(&echo.addr, codec, seconds, same_screen).await;
        let cpu = cpu_seconds(hub.pid());
        let hit_rate = drive(&hub.addr, codec, seconds, same_screen).await;
        let hit_cpu = (cpu_seconds(hub.pid()) - cpu) / (seconds * 1.1);
        println!(
            "{codec}: {bytes} bytes; echo {echo_rate:.0}/s, hub cache hit {hit_rate:.0}/s \
             ({:.2}), hub CPU {hit_cpu:.2} cores",
            hit_rate / echo_rate
        );
        out.rows
            .push(("G6".into(), codec, hit_rate, echo_rate, 0.8));
        out.json.push(json!({
            "id": "G6", "codec": codec.name(), "bytes": bytes, "hub_per_s": hit_rate,
            "echo_per_s": echo_rate, "ratio": hit_rate / echo_rate, "hub_cores": hit_cpu,
            "screens_per_core_s": hit_rate / hit_cpu.max(0.01),
            "cores_for_seed": SEED_READS / (hit_rate / hit_cpu.max(0.01)),
        }));
    }
    drop(hub);

    // Cache off: the same files, every screen two shard reads.
    let cold = HubProcess::start(&dir.path().join("hub"), &["--cache-bytes", "0"], &[]);
    for codec in CODECS {
        let echo_rate = drive(&echo.addr, codec, seconds, same_screen).await;
        let cpu = cpu_seconds(cold.pid());
        let miss_rate = drive(&cold.addr, codec, seconds, any_screen).await;
        let miss_cpu = (cpu_seconds(cold.pid()) - cpu) / (seconds * 1.1);
        println!(
            "{codec}: echo {echo_rate:.0}/s, hub cache off {miss_rate:.0}/s ({:.2}), hub CPU \
             {miss_cpu:.2} cores",
            miss_rate / echo_rate
        );
        out.rows
            .push(("G7".into(), codec, miss_rate, echo_rate, 0.3));
        out.json.push(json!({
            "id": "G7", "codec": codec.name(), "hub_per_s": miss_rate, "echo_per_s": echo_rate,
            "ratio": miss_rate / echo_rate, "hub_cores": miss_cpu,
            "screens_per_core_s": miss_rate / miss_cpu.max(0.01),
        }));
    }
}

/// Read latencies (µs) of 4 paced readers (200 screens/s each) of the hottest owners for
/// `seconds`, while `during` runs.
async fn read_p99(hub: &HubProcess, seconds: u64, during: impl Future<Output = ()>) -> (u64, u64) {
    let running = Arc::new(AtomicBool::new(true));
    let mut readers = Vec::new();
    for i in 0..4u64 {
        let (client, running) = (hub.query().await, Arc::clone(&running));
        readers.push(tokio::spawn(async move {
            let mut rng = Rng::new(i + 40);
            let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
            let mut errors = 0;
            let mut pace = tokio::time::interval(Duration::from_millis(5));
            while running.load(Ordering::Acquire) {
                pace.tick().await;
                let started = Instant::now();
                match client
                    .screen(request(1 + rng.below(3), 1 + rng.below(3)))
                    .await
                {
                    Ok(_) => {
                        let _ = h.record(started.elapsed().as_micros() as u64);
                    }
                    Err(_) => errors += 1,
                }
            }
            (h, errors)
        }));
    }
    let until = Instant::now() + Duration::from_secs(seconds);
    during.await;
    tokio::time::sleep_until(until.into()).await;
    running.store(false, Ordering::Release);
    let mut all = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
    let mut errors = 0;
    for r in readers {
        let (h, e) = r.await.unwrap();
        all.add(h).unwrap();
        errors += e;
    }
    (all.value_at_quantile(0.99), errors)
}

async fn during_move(s: &Settings, out: &mut Results) {
    let dir = TempDir::new("bench-read-move");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    fill(&hub).await;
    let view = View::open(dir.path(), 8).await;
    let load = Load::start(&hub, KEYS, 1.1, 20, Duration::from_millis(10)).await;
    let seconds = s.seconds.max(4);
    let (quiet, quiet_errors) = read_p99(&hub, seconds, async {}).await;
    let shard = view.add_sqlite_shard(dir.path(), 4).await;
    let (moving, moving_errors) = read_p99(&hub, seconds, view.move_hottest_and_back(shard)).await;
    let sent = load.sent.load(Ordering::Relaxed);
    load.stop().await;
    println!(
        "read p99 {:.1} ms without a move, {:.1} ms during 3 moves ({:.2}×); errors {} / {}; \
         {sent} events published meanwhile",
        quiet as f64 / 1000.0,
        moving as f64 / 1000.0,
        moving as f64 / quiet as f64,
        quiet_errors,
        moving_errors
    );
    assert_eq!(quiet_errors + moving_errors, 0, "reads failed");
    out.json.push(json!({
        "id": "move", "read_p99_us": quiet, "read_p99_moving_us": moving,
        "ratio": moving as f64 / quiet as f64,
    }));
    out.notes.push(format!(
        "reads during moves: read p99 {:.1} ms during three partition moves against {:.1} ms \
         without, under the same publish load: **{:.2}×** (goal ≤ 2×); 0 failed reads.",
        moving as f64 / 1000.0,
        quiet as f64 / 1000.0,
        moving as f64 / quiet as f64
    ));
}

fn markdown(results: &Results, machine: &str) -> String {
    let mut md = format!(
        "Measured on: {machine}.\n\n| goal | codec | hub screens/s | echo screens/s | hub / echo | target |\n|---|---|---|---|---|---|\n"
    );
    for (id, codec, hub, echo, goal) in &results.rows {
        md.push_str(&format!(
            "| {id} | {codec} | {hub:.0} | {echo:.0} | **{:.2}** | ≥ {goal} |\n",
            hub / echo
        ));
    }
    md.push_str("\n| codec | screen bytes | hub CPU per cached screen | cores for 117k screens/s |\n|---|---|---|---|\n");
    for v in results.json.iter().filter(|v| v["id"] == "G6") {
        let per_core = v["screens_per_core_s"].as_f64().unwrap_or(0.0);
        md.push_str(&format!(
            "| {} | {} | {:.1} µs | {:.1} |\n",
            v["codec"].as_str().unwrap_or("?"),
            v["bytes"].as_u64().unwrap_or(0),
            1e6 / per_core.max(1.0),
            v["cores_for_seed"].as_f64().unwrap_or(0.0)
        ));
    }
    for n in &results.notes {
        md.push_str(&format!("\n{n}\n"));
    }
    md
}

fn main() {
    let real = report::is_bench_run();
    let settings = Settings {
        seconds: if real { 5 } else { 1 },
        real,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut results = Results::default();
    let only = std::env::var("DATAHUB_BENCH").ok();
    let run = |part: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p == part))
    };
    runtime.block_on(async {
        if run("screen") {
            throughput(&settings, &mut results).await;
        }
        if run("read-move") && settings.real {
            during_move(&settings, &mut results).await;
        }
    });
    if !real || only.is_some() {
        return;
    }
    let machine = report::machine();
    let path = report::write_json(
        "datahub-read",
        &json!({ "machine": machine, "results": results.json }),
    )
    .unwrap();
    println!("wrote {}", path.display());
    report::splice_readme("datahub-read", &markdown(&results, &machine)).unwrap();
}
