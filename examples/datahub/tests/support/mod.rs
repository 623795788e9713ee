//! Shared by the integration tests: hub processes (`datahub serve`) on free loopback ports,
//! and a view of their files (directory, shards, statuses) from the test process through the
//! library, the way an operator's tool would see them.

#![allow(dead_code, unreachable_pub)]

#[cfg(all(feature = "kafka", feature = "postgres", feature = "zookeeper"))]
pub mod scaled;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arpc_example_datahub::PublisherClient;
use arpc_example_datahub::control::Control;
use arpc_example_datahub::directory::{Backend, Directory, SqliteDirectory};
use arpc_example_datahub::listener::status::ListenerStatus;
use arpc_example_datahub::meta::MetaDb;
use arpc_example_datahub::model::{Ack, Event, PublishRequest, PublishResponse};
use arpc_example_datahub::partition::{LogPartition, logical_partition};
use arpc_example_datahub::store::{Row, ShardOptions, ShardSet, read_current};
use arpc_example_datahub::workload::KeyRef;

/// A fresh directory under the system's temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "datahub-test-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `datahub serve` process.
pub struct HubProcess {
    child: Child,
    pub addr: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl HubProcess {
    /// Starts `datahub serve --dir DIR --addr 127.0.0.1:0 EXTRA…` with `env`, and waits for
    /// its address.
    pub fn start(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec!["serve".to_owned(), "--dir".to_owned()];
        args.push(dir.display().to_string());
        args.extend(["--addr".to_owned(), "127.0.0.1:0".to_owned()]);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        Self::spawn(&args, env)
    }

    /// Starts `datahub ARGS…` (a command that prints `listening on ADDR`) with `env`, and
    /// waits for its address.
    pub fn spawn(args: &[String], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_datahub"));
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("datahub starts");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        let _ = tx.send(addr.to_owned());
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("datahub prints its address within 60 s");
        Self {
            child,
            addr: format!("http://{addr}"),
            lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The rest of the first output line starting with `prefix` (waiting up to 10 s).
    pub fn line_after(&self, prefix: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(rest) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
            {
                return Some(rest.to_owned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits (up to `timeout`) for a line of output containing `needle`.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory (KiB), from /proc: `(anonymous, file-backed)`. The anonymous part
    /// is the process's own heap and stacks, where an unbounded queue would show; the
    /// file-backed part is pages of files it maps (SQLite's mmap of the shard files), which
    /// the kernel can drop at any time.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("RssAnon:"), field("RssFile:"))
    }

    pub async fn client(&self) -> PublisherClient {
        PublisherClient::connect(self.addr.clone())
            .await
            .expect("connects")
    }

    /// A client of the read path (served on the same address).
    pub async fn query(&self) -> arpc_example_datahub::QueryClient {
        arpc_example_datahub::QueryClient::connect(self.addr.clone())
            .await
            .expect("connects")
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// CPU seconds (user + system) a process has used, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the command.
    (ticks(11) + ticks(12)) / 100.0
}

/// The test's view of a hub's files: directory, shards, control, statuses.
pub struct View {
    pub control: Control,
    pub shards: ShardSet,
    pub directory: Directory,
    pub meta: MetaDb,
}

impl View {
    /// Opens the embedded directory of the hub in `dir` (the hub must have created it).
    pub async fn open(dir: &Path, partitions: u32) -> Self {
        let meta = MetaDb::open(&dir.join("meta.sqlite")).unwrap();
        Self::with_backend(dir, partitions, Backend::Sqlite(SqliteDirectory::new(meta))).await
    }

    /// Opens the hub's directory in `backend` (and its meta file in `dir`, for statuses).
    pub async fn with_backend(dir: &Path, partitions: u32, backend: Backend) -> Self {
        let meta = MetaDb::open(&dir.join("meta.sqlite")).unwrap();
        let directory = Directory::open(backend, Vec::new()).await.unwrap();
        let shards = ShardSet::new(directory.clone(), ShardOptions::default());
        let control = Control::new(
            directory.clone(),
            shards.clone(),
            partitions,
            Some(meta.clone()),
        );
        Self {
            control,
            shards,
            directory,
            meta,
        }
    }

    /// The row of `key` where the directory places it now.
    pub async fn row(&self, k: &KeyRef) -> Option<Row> {
        let lp = logical_partition(k.group, &k.partition_key);
        read_current(&self.shards, lp, k.domain, &k.key)
            .await
            .unwrap()
    }

    /// The latest status the listener wrote (within the last 2 s).
    pub async fn status(&self) -> ListenerStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // This directory's listener (the meta file), even when the hub shares ZooKeeper.
            let mut all: Vec<ListenerStatus> = self
                .meta
                .statuses()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(_, doc, _)| serde_json::from_str(&doc).ok())
                .collect();
            all.sort_by_key(|s| s.at_ms);
            if let Some(s) = all.pop()
                && s.at_ms > arpc_example_datahub::clock::now_ms() - 2000
            {
                return s;
            }
            assert!(Instant::now() < deadline, "no fresh listener status");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `cond` holds for the listener's status (up to `timeout`).
    pub async fn wait_status(
        &self,
        timeout: Duration,
        what: &str,
        mut cond: impl FnMut(&ListenerStatus) -> bool,
    ) -> ListenerStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status().await;
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {s:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every stored row of every logical partition (from the shard the directory places it
    /// on), keyed by identity, with version, tombstone and content (not the write time).
    pub async fn dump(
        &self,
    ) -> std::collections::BTreeMap<(String, String), (u64, u64, bool, Vec<u8>)> {
        use arpc_example_datahub::partition::{Group, LOGICAL_PARTITIONS, Lp};
        let snapshot = self.directory.refresh().await.unwrap();
        let mut out = std::collections::BTreeMap::new();
        for group in Group::ALL {
            for lp in 0..LOGICAL_PARTITIONS {
                let lp = Lp { group, lp };
                let shard = self.shards.get(snapshot.placement(lp).shard).await.unwrap();
                for row in shard.rows(lp).await.unwrap() {
                    out.insert(
                        (lp.to_string(), format!("{}/{}", row.domain, row.key)),
                        (
                            row.source_version,
                            row.log_pos,
                            row.deleted,
                            row.payload.to_vec(),
                        ),
                    );
                }
            }
        }
        out
    }

    /// Waits until the listener's total lag is 0.
    pub async fn caught_up(&self, timeout: Duration) -> ListenerStatus {
        self.wait_status(timeout, "lag 0", |s| {
            s.lag() == 0 && !s.partitions.is_empty()
        })
        .await
    }

    /// Adds a SQLite shard in `dir/shards/shard-N.sqlite`; returns its id.
    pub async fn add_sqlite_shard(&self, dir: &Path, n: u32) -> u32 {
        let path = dir.join(format!("shards/shard-{n}.sqlite"));
        self.control
            .add_shard(&format!("sqlite:{}", path.display()))
            .await
            .unwrap()
    }

    /// Moves `lp` to shard `to` (grace period 500 ms) and waits until it is done.
    pub async fn run_move(
        &self,
        lp: arpc_example_datahub::partition::Lp,
        to: u32,
    ) -> arpc_example_datahub::directory::MoveJob {
        let mut request = arpc_example_datahub::control::MoveRequest::new(lp, to);
        request.grace_ms = 500;
        let job = self.control.move_partition(&request).await.unwrap();
        let done = self.finish_move(job.id, Duration::from_secs(30)).await;
        assert_eq!(
            done.phase,
            arpc_example_datahub::directory::MovePhase::Done,
            "{done:?}"
        );
        done
    }

    /// Moves the partitions of member 1 and seller 1 (the hottest under Zipf load) to shard
    /// `to`, then member 1's back: three moves, each waited for.
    pub async fn move_hottest_and_back(&self, to: u32) {
        use arpc_example_datahub::partition::{Group, logical_partition};
        let hot = [
            logical_partition(Group::Member, "1"),
            logical_partition(Group::Seller, "1"),
        ];
        let mut from = Vec::new();
        for lp in hot {
            from.push(self.run_move(lp, to).await.from);
        }
        self.run_move(hot[0], from[0]).await;
    }

    /// Waits (up to `timeout`) until move `id` is done or rolled back.
    pub async fn finish_move(
        &self,
        id: u64,
        timeout: Duration,
    ) -> arpc_example_datahub::directory::MoveJob {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(j)) = self.control.move_status(id).await
                && j.phase.is_final()
            {
                return j;
            }
            assert!(
                Instant::now() < deadline,
                "move {id} finished within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The committed offset of `p` in the hub's meta file.
    pub async fn committed(&self, p: LogPartition) -> u64 {
        self.meta.offset(p).await.unwrap().unwrap_or(0)
    }
}

/// Publishes `events` with `ack`.
pub async fn publish(client: &PublisherClient, events: Vec<Event>, ack: Ack) -> PublishResponse {
    client
        .publish(PublishRequest {
            events,
            ack,
            timeout_ms: 10_000,
        })
        .await
        .expect("publish answers")
}

/// Where an acknowledged event went: (log partition, offset, via the outbox).
pub type AckedAt = (u32, u64, bool);

/// Publishes the five teams' events from `producers` in the background until `running`
/// clears, recording the newest acknowledged version of every key.
pub struct Load {
    pub running: Arc<std::sync::atomic::AtomicBool>,
    pub acked: Arc<Mutex<std::collections::HashMap<String, (KeyRef, u64)>>>,
    pub sent: Arc<std::sync::atomic::AtomicU64>,
    /// Events acknowledged through the outbox (Kafka mode, broker down).
    pub via_outbox: Arc<std::sync::atomic::AtomicU64>,
    /// Publishes that failed as a whole (the hub unreachable).
    pub failed_calls: Arc<std::sync::atomic::AtomicU64>,
    /// Where the newest acknowledged version of each key went: (log partition, offset, via
    /// the outbox), for diagnostics.
    pub positions: Arc<Mutex<std::collections::HashMap<String, AckedAt>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts one task per team, each sending `batch` events every `pause`.
    pub async fn start(
        hub: &HubProcess,
        keys: u64,
        skew: f64,
        batch: usize,
        pause: Duration,
    ) -> Self {
        use arpc_example_datahub::model::ItemStatus;
        use arpc_example_datahub::workload::{Producer, Team};
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let running = Arc::new(AtomicBool::new(true));
        let acked = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let via_outbox = Arc::new(AtomicU64::new(0));
        let failed_calls = Arc::new(AtomicU64::new(0));
        let positions = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let mut tasks = Vec::new();
        for team in Team::ALL {
            let client = hub.client().await;
            let (running, acked, sent) =
                (Arc::clone(&running), Arc::clone(&acked), Arc::clone(&sent));
            let (outboxed, failed) = (Arc::clone(&via_outbox), Arc::clone(&failed_calls));
            let positions = Arc::clone(&positions);
            tasks.push(tokio::spawn(async move {
                let mut producer = Producer::new(team, keys, skew, 77);
                while running.load(Ordering::Acquire) {
                    let (events, keys): (Vec<_>, Vec<_>) =
                        (0..batch).map(|_| producer.next_event()).unzip();
                    let Ok(r) = client
                        .publish(PublishRequest {
                            events: events.clone(),
                            ack: Ack::Durable,
                            timeout_ms: 10_000,
                        })
                        .await
                    else {
                        // The hub is down (a crash test): try again shortly.
                        failed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    {
                        let mut acked = acked.lock().unwrap();
                        for ((e, k), r) in events.iter().zip(keys).zip(&r.results) {
                            if r.status == ItemStatus::Accepted {
                                sent.fetch_add(1, Ordering::Relaxed);
                                if r.via_outbox {
                                    outboxed.fetch_add(1, Ordering::Relaxed);
                                }
                                let v = e.source_version.unwrap_or(0);
                                let key = k.key.clone();
                                let entry = acked.entry(k.key.clone()).or_insert((k, 0));
                                if v >= entry.1 {
                                    positions
                                        .lock()
                                        .unwrap()
                                        .insert(key, (r.log_partition, r.offset, r.via_outbox));
                                }
                                entry.1 = entry.1.max(v);
                            }
                        }
                    }
                    tokio::time::sleep(pause).await;
                }
            }));
        }
        Self {
            running,
            acked,
            sent,
            via_outbox,
            failed_calls,
            positions,
            tasks,
        }
    }

    /// Stops and waits for the tasks.
    pub async fn stop(self) -> std::collections::HashMap<String, (KeyRef, u64)> {
        self.running
            .store(false, std::sync::atomic::Ordering::Release);
        for t in self.tasks {
            t.await.unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}

/// Checks every acknowledged key: its stored version must be at least the newest
/// acknowledged one. (It may be newer: a publish whose answer was lost when the hub was
/// killed can still have been logged, and is then applied.) Returns how many are behind.
pub async fn lost(view: &View, acked: &std::collections::HashMap<String, (KeyRef, u64)>) -> usize {
    let mut lost = 0;
    let mut ahead = 0;
    for (k, v) in acked.values() {
        let stored = view.row(k).await.map(|r| r.source_version);
        match stored {
            Some(s) if s >= *v => ahead += usize::from(s > *v),
            _ => {
                if lost < 5 {
                    eprintln!("{}: acknowledged {v}, stored {stored:?}", k.key);
                }
                lost += 1;
            }
        }
    }
    if ahead > 0 {
        println!("{ahead} keys hold a version logged but not acknowledged (its answer was lost)");
    }
    lost
}

/// [`lost`], asked again every 500 ms until it is 0 or `timeout` has passed (the listeners
/// may still be catching up): the last count.
pub async fn lost_within(
    view: &View,
    acked: &std::collections::HashMap<String, (KeyRef, u64)>,
    timeout: Duration,
) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let lost = lost(view, acked).await;
        if lost == 0 || Instant::now() > deadline {
            return lost;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
