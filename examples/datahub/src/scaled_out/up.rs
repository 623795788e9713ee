//! `datahub up`: the scaled-out hub on one box, with its own ZooKeeper, tansu and PostgreSQL,
//! for a person to try.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Role, Shared};

/// How [`up`] sizes the hub.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Listener processes.
    pub listeners: usize,
    /// Query processes.
    pub queries: usize,
    /// PostgreSQL shards (one database each).
    pub shards: usize,
    /// Log partitions per group.
    pub partitions: u32,
    /// Events per second to publish (`datahub load`), 0 for none.
    pub load: u32,
    /// Where the processes' files go (default: a temporary directory, removed at the end).
    pub dir: Option<PathBuf>,
}

impl Default for UpOptions {
    fn default() -> Self {
        Self {
            listeners: 2,
            queries: 2,
            shards: 4,
            partitions: 8,
            load: 0,
            dir: None,
        }
    }
}

/// A process [`up`] started.
struct Started {
    what: String,
    child: Child,
    addr: Option<String>,
    metrics: Option<String>,
}

impl Drop for Started {
    fn drop(&mut self) {
        // SIGTERM first: the process deregisters and drains.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin ARGS…` and waits for the `listening on` (and, when asked, `metrics on`)
/// lines it prints.
fn start(bin: &Path, what: String, args: &[String], wait_metrics: bool) -> Result<Started, String> {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut started = Started {
        what,
        child,
        addr: None,
        metrics: None,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while started.addr.is_none() || (wait_metrics && started.metrics.is_none()) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .map_err(|_| format!("{} did not start within 90 s", started.what))?;
        if let Some(addr) = line.strip_prefix("listening on ") {
            started.addr = Some(addr.to_owned());
        } else if let Some(addr) = line.strip_prefix("metrics on ") {
            started.metrics = Some(addr.to_owned());
        }
    }
    // Keep draining its output, so that it never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Ok(started)
}

/// Runs the scaled-out hub on this box until Ctrl-C: starts ZooKeeper, tansu and
/// PostgreSQL, then a publisher, `listeners` listeners and `queries` query processes
/// (`bin` is the `datahub` binary), prints where each part listens and how to look at it,
/// and stops everything at the end.
pub async fn up(
    bin: &Path,
    options: UpOptions,
    stop: impl Future<Output = ()>,
) -> Result<(), String> {
    use crate::testing::{postgres, tansu};
    let temp;
    let root = match &options.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = TempRoot::new()?;
            temp.0.clone()
        }
    };
    println!("starting ZooKeeper, tansu and PostgreSQL...");
    let zk = arpc::registry::testing::TestingServer::start(Duration::from_millis(200))
        .map_err(|e| format!("ZooKeeper: {e}"))?;
    let broker = tansu::Broker::start(tansu::Storage::Memory).map_err(|e| format!("tansu: {e}"))?;
    let pg = postgres::Cluster::start().map_err(|e| format!("PostgreSQL: {e}"))?;
    let shards = (0..options.shards)
        .map(|i| pg.create_database(&format!("shard_{i}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("PostgreSQL: {e}"))?;
    let shared = Shared {
        zookeeper: zk.url("/datahub", Duration::from_secs(6)),
        kafka: broker.brokers(),
        shards,
        partitions: options.partitions,
        group: "datahub".into(),
    };
    let mut roles = vec![(Role::Publisher, 0)];
    roles.extend((0..options.listeners).map(|i| (Role::Listener, i)));
    roles.extend((0..options.queries).map(|i| (Role::Query, i)));
    let mut processes = Vec::new();
    for (role, i) in roles {
        let dir = root.join(format!("{}-{i}", role.name()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let what = format!("{} {i}", role.name());
        // Started one at a time: the first creates the directory and the topics.
        let bin = bin.to_owned();
        let args = shared.args(role, &dir);
        let started = tokio::task::spawn_blocking(move || start(&bin, what, &args, true))
            .await
            .map_err(|e| e.to_string())??;
        processes.push(started);
    }
    let publisher = processes[0].addr.clone().unwrap_or_default();
    if options.load > 0 {
        let args: Vec<String> = vec![
            "load".into(),
            "--addr".into(),
            format!("http://{publisher}"),
            "--rate".into(),
            options.load.to_string(),
            "--seconds".into(),
            "31536000".into(),
        ];
        let child = Command::new(bin)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        // Ended with the rest.
        processes.push(Started {
            what: "load".into(),
            addr: None,
            metrics: None,
            child,
        });
    }
    println!();
    println!("{:<12} {:<24} {:<24}", "part", "listens on", "metrics");
    println!(
        "{:<12} {:<24} {:<24}",
        "zookeeper",
        zk.connect_string(),
        "-"
    );
    println!("{:<12} {:<24} {:<24}", "tansu", shared.kafka, "-");
    println!(
        "{:<12} {:<24} {:<24}",
        "postgresql",
        format!("127.0.0.1:{}", pg.port()),
        "-"
    );
    for p in &processes {
        if let Some(addr) = &p.addr {
            println!(
                "{:<12} {:<24} {:<24}",
                p.what,
                addr,
                p.metrics
                    .as_deref()
                    .map_or("-".into(), |m| format!("{m}/metrics"))
            );
        }
    }
    println!();
    println!("registry: {}", shared.zookeeper);
    println!("try:");
    println!(
        "  datahub admin --zookeeper '{}' listeners",
        shared.zookeeper
    );
    println!("  datahub admin --zookeeper '{}' map", shared.zookeeper);
    if options.load == 0 {
        println!("  datahub load --addr http://{publisher} --rate 2000 --seconds 30");
    }
    println!("Ctrl-C stops everything.");
    stop.await;
    println!("stopping...");
    // The hub's processes first (they deregister), then what they used.
    drop(processes);
    drop(pg);
    drop(broker);
    drop(zk);
    Ok(())
}

/// A temporary directory, removed on drop.
struct TempRoot(PathBuf);

impl TempRoot {
    fn new() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "datahub-up-{}-{}",
            std::process::id(),
            crate::clock::now_ms()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
