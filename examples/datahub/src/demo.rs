//! The demo (the README's main job): the whole hub on one box, embedded.
//!
//! Five team publishers send Zipf-skewed events over arpc to the hub's `Publisher`; the
//! listener applies them to four SQLite shards; screen readers read display screens of hot
//! members and sellers over the hub's `Query` service, each in its own codec (two postcard,
//! two protobuf, two JSON). A table is printed every second. At about a third of the run, the demo adds a shard and
//! moves the hottest logical partition to it, under load. At the end it checks the
//! invariants and fails on a violation:
//!
//! 1. every acknowledged event is applied: each key's stored version is the newest version
//!    acknowledged for it;
//! 2. no screen reader ever saw a key's version go backwards, and no screen read failed;
//! 3. the move verified equal checksums before switching, moved every row of the partition
//!    and left nothing behind on the source.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use arpc::client::CallOptions;
use arpc::codec::{CodecKind, CodecSet};

use crate::control::MoveRequest;
use crate::directory::{MoveJob, MovePhase};
use crate::hub::{Hub, HubConfig};
use crate::model::ScreenRequest;
use crate::model::{Ack, ItemStatus, PublishRequest};
use crate::partition::logical_partition;
use crate::store::read_current;
use crate::workload::{KeyRef, Producer, Team, Zipf};
use crate::{PublisherClient, QueryClient};

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How long to publish.
    pub seconds: u64,
    /// Events per second, all teams together.
    pub rate: u32,
    /// Entities per team.
    pub keys: u64,
    /// Where the hub keeps its files (a fresh temporary directory when `None`).
    pub dir: Option<PathBuf>,
    /// Print the table.
    pub verbose: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            seconds: 60,
            rate: 20_000,
            keys: 20_000,
            dir: None,
            verbose: true,
        }
    }
}

/// What the demo found.
#[derive(Debug, Clone, Default)]
pub struct DemoReport {
    /// Events acknowledged.
    pub acknowledged: u64,
    /// Events answered other than `Accepted`.
    pub refused: u64,
    /// Keys checked at the end.
    pub keys_checked: u64,
    /// Keys whose stored version is not the newest acknowledged.
    pub lost: u64,
    /// Reads that saw a version go backwards.
    pub regressions: u64,
    /// Screens read.
    pub reads: u64,
    /// Screen reads that failed.
    pub read_errors: u64,
    /// The move, as it ended.
    pub moved: Option<MoveJob>,
    /// What went wrong (empty: every invariant held).
    pub violations: Vec<String>,
}

#[derive(Default)]
struct Model {
    /// Newest acknowledged version per key.
    acked: HashMap<String, (KeyRef, u64)>,
}

macro_rules! say {
    ($opts:expr, $($t:tt)*) => {
        if $opts.verbose {
            println!($($t)*);
        }
    };
}

/// Runs the demo.
pub async fn run(opts: DemoOptions) -> Result<DemoReport, String> {
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "datahub-demo-{}-{}",
            std::process::id(),
            crate::clock::now_ms()
        )),
    };
    let _ = std::fs::remove_dir_all(&dir);
    say!(
        opts,
        "data hub demo: {} s at {} events/s, files in {}",
        opts.seconds,
        opts.rate,
        dir.display()
    );
    let hub = Arc::new(
        Hub::open(HubConfig::embedded(&dir))
            .await
            .map_err(|e| e.to_string())?,
    );
    let tcp = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = tcp.local_addr().map_err(|e| e.to_string())?;
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let hub = Arc::clone(&hub);
        tokio::spawn(async move {
            hub.serve(tcp, async {
                let _ = server_stopped.await;
            })
            .await;
        })
    };
    say!(
        opts,
        "publisher on {addr}; 4 SQLite shards; log: 8 partitions per group, group commit\n"
    );

    let model = Arc::new(Mutex::new(Model::default()));
    let published = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let mut teams = Vec::new();
    for team in Team::ALL {
        let client = PublisherClient::connect(format!("http://{addr}"))
            .await
            .map_err(|e| e.to_string())?;
        let (model, published, refused, running) = (
            Arc::clone(&model),
            Arc::clone(&published),
            Arc::clone(&refused),
            Arc::clone(&running),
        );
        let per_team = f64::from(opts.rate) / Team::ALL.len() as f64;
        let keys = opts.keys;
        teams.push(tokio::spawn(async move {
            publish_team(
                team, keys, per_team, client, model, published, refused, running,
            )
            .await
        }));
    }
    let readers = Readers::default();
    let mut reader_tasks = Vec::new();
    for (n, codec) in [
        CodecKind::Postcard,
        CodecKind::Proto,
        CodecKind::Json,
        CodecKind::Postcard,
        CodecKind::Proto,
        CodecKind::Json,
    ]
    .into_iter()
    .enumerate()
    {
        let client = QueryClient::connect(format!("http://{addr}"))
            .await
            .map_err(|e| e.to_string())?;
        reader_tasks.push(tokio::spawn(read_screens(
            client,
            codec,
            opts.keys,
            n as u64,
            Arc::clone(&running),
            readers.clone(),
        )));
    }
    let started = Instant::now();
    let move_at = Duration::from_secs((opts.seconds / 3).max(1));
    let mut move_job: Option<u64> = None;
    let mut last_published = 0;
    let mut last_applied = applied_total(&hub);
    say!(
        opts,
        "{:>4} {:>12} {:>10} {:>9} {:>9} {:>8} {:>9} {:>6} {:>7} {:>14} {:>11}",
        "t",
        "published/s",
        "applied/s",
        "lag p50",
        "lag p99",
        "reads/s",
        "read p99",
        "hit %",
        "paused",
        "move",
        "last pause"
    );
    let (mut last_reads, mut last_hits, mut last_misses) = (0, 0, 0);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while started.elapsed() < Duration::from_secs(opts.seconds) {
        tick.tick().await;
        if move_job.is_none() && started.elapsed() >= move_at {
            match start_move(&hub, &dir).await {
                Ok((job, text)) => {
                    say!(opts, "     -- {text}");
                    move_job = Some(job);
                }
                Err(e) => say!(opts, "     -- no move yet: {e}"),
            }
        }
        let p = published.load(Ordering::Relaxed);
        let a = applied_total(&hub);
        let status = hub.listener.as_ref().map(|l| l.status());
        let lat = hub.hot.latency();
        hub.hot.reset_latency();
        let paused = status.as_ref().map_or(0, |s| {
            s.partitions
                .iter()
                .filter(|p| p.paused.is_some() || p.backpressure || p.stalled.is_some())
                .count()
        });
        let job = match move_job {
            Some(id) => hub.directory.snapshot().state.move_job(id).cloned(),
            None => None,
        };
        let phase = job
            .as_ref()
            .map_or("-".to_owned(), |j| j.phase.name().to_owned());
        let pause = job
            .as_ref()
            .and_then(|j| j.pause_ms)
            .map_or("-".to_owned(), |ms| format!("{ms:.1} ms"));
        let reads = readers.screens.load(Ordering::Relaxed);
        let read_p99 = readers.take_p99_us();
        let cache = hub.query.cache_stats();
        let (hits, misses) = (
            cache.hits.load(Ordering::Relaxed),
            cache.misses.load(Ordering::Relaxed),
        );
        #[allow(clippy::cast_precision_loss)]
        let hit_rate = (hits - last_hits) as f64 * 100.0
            / ((hits - last_hits) + (misses - last_misses)).max(1) as f64;
        say!(
            opts,
            "{:>4} {:>12} {:>10} {:>7}ms {:>7}ms {:>8} {:>7.1}ms {:>6.1} {:>7} {:>14} {:>11}",
            started.elapsed().as_secs(),
            p - last_published,
            a - last_applied,
            lat.p50,
            lat.p99,
            reads - last_reads,
            read_p99 as f64 / 1000.0,
            hit_rate,
            paused,
            phase,
            pause
        );
        (last_reads, last_hits, last_misses) = (reads, hits, misses);
        last_published = p;
        last_applied = a;
    }

    say!(
        opts,
        "\nstopping the publishers; waiting for the listener to catch up…"
    );
    running.store(false, Ordering::Release);
    for t in teams {
        t.await.map_err(|e| e.to_string())??;
    }
    for t in reader_tasks {
        let _ = t.await;
    }
    let listener = hub.listener.as_ref().ok_or("no listener")?;
    if !listener.caught_up(Duration::from_secs(120)).await {
        return Err(format!(
            "the listener did not catch up: {:?}",
            listener.status()
        ));
    }
    let mut report = DemoReport {
        acknowledged: published.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        reads: readers.screens.load(Ordering::Relaxed),
        read_errors: readers.errors.load(Ordering::Relaxed),
        regressions: readers.regressions.load(Ordering::Relaxed),
        ..DemoReport::default()
    };
    if let Some(id) = move_job {
        say!(opts, "finishing the move (ending its grace period)…");
        let job = finish_move(&hub, id).await?;
        check_move(&hub, &job, &mut report).await?;
        report.moved = Some(job);
    } else {
        report
            .violations
            .push("the partition move never started".into());
    }
    check_applied(&hub, &model, &mut report).await?;
    if report.regressions > 0 {
        report.violations.push(format!(
            "{} reads saw a version go backwards",
            report.regressions
        ));
    }
    if report.read_errors > 0 {
        report.violations.push(format!(
            "{} screen reads failed (first: {})",
            report.read_errors,
            readers.first_error().unwrap_or_default()
        ));
    }
    let _ = stop_server.send(());
    let _ = server.await;
    say!(opts, "\n{}", summary(&report));
    if opts.dir.is_none() {
        drop(hub);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(report)
}

fn applied_total(hub: &Hub) -> u64 {
    hub.listener.as_ref().map_or(0, |l| {
        l.status().partitions.iter().map(|p| p.committed).sum()
    })
}

#[allow(clippy::too_many_arguments)]
async fn publish_team(
    team: Team,
    keys: u64,
    per_second: f64,
    client: PublisherClient,
    model: Arc<Mutex<Model>>,
    published: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    running: Arc<AtomicBool>,
) -> Result<(), String> {
    const BATCH: usize = 100;
    let mut producer = Producer::new(team, keys, 1.1, 42);
    let interval = Duration::from_secs_f64(BATCH as f64 / per_second.max(1.0));
    let mut next = Instant::now();
    while running.load(Ordering::Acquire) {
        let (events, refs): (Vec<_>, Vec<_>) = (0..BATCH).map(|_| producer.next_event()).unzip();
        let request = PublishRequest {
            events,
            ack: Ack::Durable,
            timeout_ms: 0,
        };
        let response = client
            .publish(request.clone())
            .await
            .map_err(|e| format!("{} publisher: {e}", team.name()))?;
        {
            let mut m = model.lock().map_err(|_| "model poisoned")?;
            for ((event, key), result) in request.events.iter().zip(refs).zip(&response.results) {
                if result.status == ItemStatus::Accepted {
                    published.fetch_add(1, Ordering::Relaxed);
                    let v = event.source_version.unwrap_or(0);
                    let entry = m.acked.entry(key.key.clone()).or_insert((key, 0));
                    entry.1 = entry.1.max(v);
                } else {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        } else {
            next = Instant::now();
        }
    }
    Ok(())
}

/// What the screen readers share: counts, read latencies, the first error.
#[derive(Clone, Default)]
struct Readers {
    screens: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    regressions: Arc<AtomicU64>,
    latency_us: Arc<Mutex<Option<hdrhistogram::Histogram<u64>>>>,
    first_error: Arc<Mutex<Option<String>>>,
}

impl Readers {
    fn record(&self, us: u64) {
        if let Ok(mut h) = self.latency_us.lock() {
            let h = h.get_or_insert_with(|| {
                hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 2).expect("bounds")
            });
            let _ = h.record(us.max(1));
        }
    }

    /// The p99 read latency since the last call (µs), and a fresh window.
    fn take_p99_us(&self) -> u64 {
        self.latency_us
            .lock()
            .ok()
            .and_then(|mut h| h.take())
            .map_or(0, |h| h.value_at_quantile(0.99))
    }

    fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }
}

/// Reads screens of Zipf-chosen members and sellers in `codec` (the hot ones more often),
/// checking that no entity's version ever goes backwards.
async fn read_screens(
    client: QueryClient,
    codec: CodecKind,
    keys: u64,
    seed: u64,
    running: Arc<AtomicBool>,
    readers: Readers,
) {
    let mut rng = crate::workload::Rng::new(seed + 100);
    let (members, sellers) = (Zipf::new(keys, 1.1), Zipf::new((keys / 10).max(1), 1.1));
    let options = CallOptions::default()
        .codec(codec)
        .accept(CodecSet::only(codec));
    let mut seen: HashMap<String, u64> = HashMap::new();
    // 500 screens/s per reader at most: the readers share the two cores with the publishers.
    let mut pace = tokio::time::interval(Duration::from_millis(2));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while running.load(Ordering::Acquire) {
        pace.tick().await;
        let request = ScreenRequest {
            member_id: members.sample(&mut rng),
            seller_id: sellers.sample(&mut rng),
            items: 20,
            ..ScreenRequest::default()
        };
        let started = Instant::now();
        match client.screen_with(request, options.clone()).await {
            Ok(response) => {
                readers.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
                readers.screens.fetch_add(1, Ordering::Relaxed);
                for v in response.message.versions {
                    let last = seen.entry(v.key).or_insert(0);
                    if v.version < *last {
                        readers.regressions.fetch_add(1, Ordering::Relaxed);
                    }
                    *last = (*last).max(v.version);
                }
            }
            Err(e) => {
                readers.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = readers.first_error.lock() {
                    first.get_or_insert_with(|| format!("{e:?}"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Adds a shard and moves the hottest partition to it.
async fn start_move(hub: &Hub, dir: &std::path::Path) -> Result<(u64, String), String> {
    let report = hub
        .hot
        .report(&hub.directory.snapshot(), Duration::from_secs(10), 5);
    let hottest = report
        .hottest
        .first()
        .ok_or("no writes measured yet")?
        .clone();
    let url = format!(
        "sqlite:{}",
        dir.join("shards").join("shard-4.sqlite").display()
    );
    let shard = hub
        .control
        .add_shard(&url)
        .await
        .map_err(|e| e.to_string())?;
    let mut request = MoveRequest::new(hottest.lp, shard);
    request.grace_ms = 3_600_000;
    request.rows_per_s = 50_000;
    let plan = hub
        .control
        .plan_move(&request, hottest.writes_per_s)
        .await
        .map_err(|e| e.to_string())?;
    let job = hub
        .control
        .move_partition(&request)
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        job.id,
        format!(
            "hottest partition {} ({:.0} rows/s, {:.1}% of writes, skew {:.0}×); added shard {shard}; \
             moving it from shard {} ({} rows, ~{:.1} s to copy)",
            hottest.lp,
            hottest.writes_per_s,
            hottest.share * 100.0,
            report.skew,
            plan.from,
            plan.rows,
            plan.estimated_copy_s
        ),
    ))
}

async fn finish_move(hub: &Hub, id: u64) -> Result<MoveJob, String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = hub
            .control
            .move_status(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the move is gone")?;
        match job.phase {
            MovePhase::Done | MovePhase::RolledBack => return Ok(job),
            MovePhase::Cleanup if job.grace_ms > 0 => {
                hub.control
                    .complete_move(id)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(format!("the move did not finish: {job:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn check_move(hub: &Hub, job: &MoveJob, report: &mut DemoReport) -> Result<(), String> {
    if job.phase != MovePhase::Done {
        report.violations.push(format!(
            "the move ended {} ({:?})",
            job.phase.name(),
            job.error
        ));
        return Ok(());
    }
    let source = hub.shards.get(job.from).await.map_err(|e| e.to_string())?;
    let target = hub.shards.get(job.to).await.map_err(|e| e.to_string())?;
    let left = source.count(job.lp).await.map_err(|e| e.to_string())?;
    let moved = target.count(job.lp).await.map_err(|e| e.to_string())?;
    if left != 0 {
        report
            .violations
            .push(format!("{left} rows of {} left on the source", job.lp));
    }
    if moved == 0 {
        report
            .violations
            .push(format!("no rows of {} on the target", job.lp));
    }
    Ok(())
}

async fn check_applied(
    hub: &Hub,
    model: &Mutex<Model>,
    report: &mut DemoReport,
) -> Result<(), String> {
    let expected: Vec<(KeyRef, u64)> = model
        .lock()
        .map_err(|_| "model poisoned")?
        .acked
        .values()
        .cloned()
        .collect();
    for (k, version) in expected {
        let lp = logical_partition(k.group, &k.partition_key);
        let row = read_current(&hub.shards, lp, k.domain, &k.key)
            .await
            .map_err(|e| e.to_string())?;
        report.keys_checked += 1;
        if row.as_ref().map(|r| r.source_version) != Some(version) {
            report.lost += 1;
            if report.lost <= 5 {
                report.violations.push(format!(
                    "{}: acknowledged version {version}, stored {:?}",
                    k.key,
                    row.map(|r| r.source_version)
                ));
            }
        }
    }
    if report.lost > 5 {
        report
            .violations
            .push(format!("… {} keys in all not as acknowledged", report.lost));
    }
    Ok(())
}

fn summary(r: &DemoReport) -> String {
    let mut s = format!(
        "acknowledged {} events ({} refused); {} keys checked: {} not as acknowledged; \
         {} screens read ({} failed), {} regressions",
        r.acknowledged, r.refused, r.keys_checked, r.lost, r.reads, r.read_errors, r.regressions
    );
    if let Some(j) = &r.moved {
        s.push_str(&format!(
            "\nmove of {}: shard {} → {}: {} rows copied, {} verify round(s) ({} bucket(s) \
             re-copied, then equal), write pause {:.1} ms, {} source rows cleaned up",
            j.lp,
            j.from,
            j.to,
            j.copied,
            j.verify_rounds,
            j.recopied_buckets,
            j.pause_ms.unwrap_or(0.0),
            j.cleaned
        ));
    }
    if r.violations.is_empty() {
        s.push_str(
            "\ninvariants hold: every acknowledged event applied, no version regression, \
                    the move verified and complete",
        );
    } else {
        s.push_str("\nVIOLATIONS:");
        for v in &r.violations {
            s.push_str("\n  ");
            s.push_str(v);
        }
    }
    s
}
