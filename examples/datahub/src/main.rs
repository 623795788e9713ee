//! `datahub`: the data hub.
//!
//! ```text
//! datahub demo [--seconds 60] [--rate 20000]      # everything on one box, with a live move
//! datahub serve --dir DIR --addr 127.0.0.1:0      # a hub process (publisher, listener, query, admin)
//! datahub admin --addr http://HOST:PORT listeners  # the admin plane, as tables
//!
//! # scaled out (features kafka, postgres, zookeeper)
//! datahub up [--listeners 2] [--queries 2]        # ZooKeeper, tansu, PostgreSQL and the processes
//! datahub publisher|listener|query --zookeeper zk://… --kafka HOST:PORT --shards URL,…
//! datahub admin --zookeeper zk://HOST:PORT/BASE listeners
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use arpc_example_datahub::admin::cli::AdminCommand;
use arpc_example_datahub::demo::{self, DemoOptions};
use arpc_example_datahub::faults::Holds;
use arpc_example_datahub::hub::{Hub, HubConfig};
use arpc_example_datahub::log::LogConfig;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

/// mimalloc instead of glibc's allocator: the hub allocates and frees many small strings per
/// event (ids, keys, payloads), and glibc's `malloc_consolidate` and `free` were about a fifth
/// of a publisher's CPU in a profile. Built with `no_thp`: otherwise mimalloc asks for
/// transparent huge pages on its regions, and the hub's resident memory jumped by 150 MiB on
/// machines where the kernel grants them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "arpc's data hub: publish, log, listen, process, store on shards, serve screens")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole write side on one box for a while, move the hottest partition under
    /// load, and check the invariants (exits 1 on a violation).
    Demo {
        /// How long to publish (seconds).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Events per second, all five teams together.
        #[arg(long, default_value_t = 20_000)]
        rate: u32,
        /// Keep the files here (default: a temporary directory, removed at the end).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Publish the five teams' synthetic events to a running hub for a while, and print
    /// what was acknowledged each second.
    Load {
        /// The publisher (`http://host:port`).
        #[arg(long)]
        addr: String,
        /// Events per second, all teams together.
        #[arg(long, default_value_t = 5000)]
        rate: u32,
        /// How long (seconds).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The read benchmark's baseline: serve `Query` answering every screen with the one in
    /// `--screen` (protobuf), doing nothing else.
    #[command(hide = true)]
    EchoScreen {
        /// Where to listen (port 0 picks a free one; the bound address is printed).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// A `DisplayScreen`, protobuf-encoded.
        #[arg(long)]
        screen: PathBuf,
    },
    /// Call a hub's `Admin` service and print the answer as a table.
    Admin {
        /// The hub (`http://host:port`).
        #[arg(long, required_unless_present = "zookeeper")]
        addr: Option<String>,
        /// Or find the hub's `Admin` instances in ZooKeeper (`zk://host:port/base`).
        #[arg(long, conflicts_with = "addr")]
        zookeeper: Option<String>,
        /// What to ask.
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Run the scaled-out hub on this box: its own ZooKeeper, tansu and PostgreSQL, a
    /// publisher, listeners and query processes, until Ctrl-C.
    #[cfg(all(feature = "kafka", feature = "postgres", feature = "zookeeper"))]
    Up {
        /// Listener processes.
        #[arg(long, default_value_t = 2)]
        listeners: usize,
        /// Query processes.
        #[arg(long, default_value_t = 2)]
        queries: usize,
        /// PostgreSQL shards.
        #[arg(long, default_value_t = 4)]
        shards: usize,
        /// Publish this many events per second (`datahub load`); 0 for none.
        #[arg(long, default_value_t = 0)]
        load: u32,
        /// Keep the processes' files here (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// A scaled-out hub's publisher process (see `datahub up`).
    #[cfg(all(feature = "kafka", feature = "zookeeper"))]
    Publisher(RoleArgs),
    /// A scaled-out hub's listener process (start two or more).
    #[cfg(all(feature = "kafka", feature = "zookeeper"))]
    Listener(RoleArgs),
    /// A scaled-out hub's read-path process (start two or more).
    #[cfg(all(feature = "kafka", feature = "zookeeper"))]
    Query(RoleArgs),
    /// Run a hub process: the publisher on `--addr` (the bound address is printed) and the
    /// listener, on the files under `--dir`.
    Serve {
        /// The hub's files (log, meta, SQLite shards).
        #[arg(long)]
        dir: PathBuf,
        /// Where the publisher listens (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// Log partitions per group (a power of two).
        #[arg(long, default_value_t = 8)]
        partitions: u32,
        /// Shard URLs when the directory is new (comma-separated; default four SQLite files).
        #[arg(long, value_delimiter = ',')]
        shards: Vec<String>,
        /// Make a shard's writes slower: `SHARD:FACTOR:SECONDS` (fault injection for tests).
        #[arg(long)]
        slow_shard: Option<String>,
        /// Do not run the listener here.
        #[arg(long)]
        no_listener: bool,
        /// Do not run the publisher here.
        #[arg(long)]
        no_publisher: bool,
        /// The screen cache's size in bytes (0: no cache, every screen reads its shards).
        #[arg(long)]
        cache_bytes: Option<u64>,
        /// Serve Prometheus metrics (arpc's and the hub's) at `http://ADDR/metrics` (port 0
        /// picks a free one; the bound address is printed).
        #[arg(long)]
        metrics_addr: Option<SocketAddr>,
        /// The directory in ZooKeeper instead of the meta file (`zk://host:port/base`).
        #[cfg(feature = "zookeeper")]
        #[arg(long)]
        zookeeper: Option<String>,
        /// The log on Kafka (`host:port,…`) instead of the embedded log.
        #[cfg(feature = "kafka")]
        #[arg(long)]
        kafka: Option<String>,
        /// The consumer group (Kafka mode).
        #[cfg(feature = "kafka")]
        #[arg(long, default_value = "datahub")]
        group: String,
        /// A produce that has not succeeded within this many milliseconds goes to the local
        /// outbox (Kafka mode).
        #[cfg(feature = "kafka")]
        #[arg(long, default_value_t = 2000)]
        outbox_after_ms: u64,
    },
}

/// What every process of a scaled-out hub is told.
#[cfg(all(feature = "kafka", feature = "zookeeper"))]
#[derive(clap::Args)]
struct RoleArgs {
    /// This process's own files (meta file, outbox).
    #[arg(long)]
    dir: PathBuf,
    /// Where it listens (port 0 picks a free one; the bound address is printed and
    /// registered).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Serve Prometheus metrics here.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// The registry and directory (`zk://host:port/base`).
    #[arg(long)]
    zookeeper: String,
    /// The broker(s) (`host:port,…`; the query role does not use them).
    #[arg(long)]
    kafka: String,
    /// Shard URLs, used by the first process when it creates the directory.
    #[arg(long, value_delimiter = ',')]
    shards: Vec<String>,
    /// Log partitions per group (a power of two; the same in every process).
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// The listeners' group.
    #[arg(long, default_value = "datahub")]
    group: String,
}

#[cfg(all(feature = "kafka", feature = "zookeeper"))]
impl RoleArgs {
    async fn run(self, role: arpc_example_datahub::scaled_out::Role) -> ExitCode {
        let shared = arpc_example_datahub::scaled_out::Shared {
            zookeeper: self.zookeeper,
            kafka: self.kafka,
            shards: self.shards,
            partitions: self.partitions,
            group: self.group,
        };
        let mut config = shared.config(role, &self.dir);
        config.holds = Holds::from_env();
        match serve(config, self.addr, self.metrics_addr, None).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    }
}

/// The `Admin` clients to ask: the one at `addr`, or every instance in the registry.
async fn admin_clients(
    addr: Option<String>,
    zookeeper: Option<String>,
) -> Result<Vec<arpc_example_datahub::AdminClient>, String> {
    use arpc_example_datahub::AdminClient;
    if let Some(url) = zookeeper {
        use arpc::registry::{Change, Discovery, Registry};
        use futures_util::StreamExt;
        let registry = Registry::from_url(&url).map_err(|e| e.to_string())?;
        let mut changes = registry.discover(AdminClient::schema().full_name);
        let mut uris = Vec::new();
        // The registry lists what it has at once; the first event may take a connection.
        let mut wait = Duration::from_secs(10);
        while let Ok(Some(change)) = tokio::time::timeout(wait, changes.next()).await {
            if let Ok(Change::Insert(_, instance)) = change {
                uris.push(instance.uri());
                wait = Duration::from_millis(300);
            }
        }
        if uris.is_empty() {
            return Err(format!("no Admin instance registered under {url}"));
        }
        let mut clients = Vec::new();
        for uri in uris {
            if let Ok(client) = AdminClient::connect(uri).await {
                clients.push(client);
            }
        }
        if clients.is_empty() {
            return Err(format!("no Admin instance under {url} answers"));
        }
        return Ok(clients);
    }
    let addr = addr.ok_or("--addr or --zookeeper")?;
    match AdminClient::connect(addr.clone()).await {
        Ok(client) => Ok(vec![client]),
        Err(e) => Err(format!("cannot reach {addr}: {e}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Demo { seconds, rate, dir } => {
            let opts = DemoOptions {
                seconds,
                rate,
                dir,
                ..DemoOptions::default()
            };
            match demo::run(opts).await {
                Ok(report) if report.violations.is_empty() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("demo failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Load {
            addr,
            rate,
            seconds,
        } => match load(&addr, rate, seconds).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::EchoScreen { addr, screen } => match echo_screen(addr, &screen).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        #[cfg(all(feature = "kafka", feature = "postgres", feature = "zookeeper"))]
        Command::Up {
            listeners,
            queries,
            shards,
            load,
            dir,
        } => {
            use arpc_example_datahub::scaled_out::up::{UpOptions, up};
            let options = UpOptions {
                listeners,
                queries,
                shards,
                load,
                dir,
                ..UpOptions::default()
            };
            let bin = match std::env::current_exe() {
                Ok(bin) => bin,
                Err(e) => {
                    eprintln!("cannot find this binary: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match up(&bin, options, shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        #[cfg(all(feature = "kafka", feature = "zookeeper"))]
        Command::Publisher(args) => {
            args.run(arpc_example_datahub::scaled_out::Role::Publisher)
                .await
        }
        #[cfg(all(feature = "kafka", feature = "zookeeper"))]
        Command::Listener(args) => {
            args.run(arpc_example_datahub::scaled_out::Role::Listener)
                .await
        }
        #[cfg(all(feature = "kafka", feature = "zookeeper"))]
        Command::Query(args) => {
            args.run(arpc_example_datahub::scaled_out::Role::Query)
                .await
        }
        Command::Admin {
            addr,
            zookeeper,
            command,
        } => {
            let result = match admin_clients(addr, zookeeper).await {
                Ok(clients) => arpc_example_datahub::admin::cli::run_any(&clients, command).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(table) => {
                    print!("{table}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        #[allow(unused_variables)]
        Command::Serve {
            dir,
            addr,
            partitions,
            shards,
            slow_shard,
            no_listener,
            no_publisher,
            cache_bytes,
            metrics_addr,
            #[cfg(feature = "zookeeper")]
            zookeeper,
            #[cfg(feature = "kafka")]
            kafka,
            #[cfg(feature = "kafka")]
            group,
            #[cfg(feature = "kafka")]
            outbox_after_ms,
        } => {
            let mut config = HubConfig::embedded(&dir);
            config.log = LogConfig::with_partitions(partitions);
            config.shards = shards;
            config.run_listener = !no_listener;
            config.run_publisher = !no_publisher;
            if let Some(bytes) = cache_bytes {
                config.query.cache_bytes = bytes;
            }
            config.holds = Holds::from_env();
            #[cfg(feature = "zookeeper")]
            {
                config.zookeeper = zookeeper;
            }
            #[cfg(feature = "kafka")]
            {
                config.kafka = kafka.map(|brokers| {
                    arpc_example_datahub::log::kafka::KafkaConfig::new(brokers, group)
                        .outbox_after(Duration::from_millis(outbox_after_ms))
                });
            }
            match serve(config, addr, metrics_addr, slow_shard).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(
    config: HubConfig,
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    slow: Option<String>,
) -> Result<(), String> {
    let hub = Hub::open(config).await.map_err(|e| e.to_string())?;
    if let Some(addr) = metrics_addr {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        println!(
            "metrics on {}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        tokio::spawn(hub.metrics.clone().serve(listener));
    }
    if let Some(spec) = slow {
        let parts: Vec<u64> = spec
            .split(':')
            .map(|p| {
                p.parse()
                    .map_err(|_| format!("--slow-shard {spec}: expected SHARD:FACTOR:SECONDS"))
            })
            .collect::<Result<_, _>>()?;
        let [shard, factor, secs] = parts[..] else {
            return Err(format!(
                "--slow-shard {spec}: expected SHARD:FACTOR:SECONDS"
            ));
        };
        let shard = hub
            .shards
            .get(u32::try_from(shard).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| e.to_string())?;
        shard.fault().slow_down(
            u32::try_from(factor).unwrap_or(1),
            Duration::from_secs(secs),
        );
        println!("shard {} slowed {factor}x for {secs} s", shard.id());
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {bound}");
    hub.serve(listener, shutdown_signal()).await;
    Ok(())
}

async fn echo_screen(addr: SocketAddr, path: &std::path::Path) -> Result<(), String> {
    use arpc_example_datahub::model::DisplayScreen;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let screen: DisplayScreen = arpc::codec::CodecKind::Proto
        .decode(bytes.into())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!(
        "listening on {}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    arpc::Server::builder()
        .add_service(arpc_example_datahub::QueryServer::new(
            arpc_example_datahub::query::echo::EchoScreen::new(screen),
        ))
        .serve_with_incoming(listener, shutdown_signal())
        .await;
    Ok(())
}

async fn load(addr: &str, rate: u32, seconds: u64) -> Result<(), String> {
    use arpc_example_datahub::model::{Ack, ItemStatus, PublishRequest};
    use arpc_example_datahub::workload::{Producer, Team};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let client = arpc_example_datahub::PublisherClient::connect(addr.to_owned())
        .await
        .map_err(|e| e.to_string())?;
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for team in Team::ALL {
        let (client, counts) = (client.clone(), Arc::clone(&counts));
        let per_batch =
            Duration::from_secs_f64(100.0 * Team::ALL.len() as f64 / f64::from(rate.max(1)));
        tasks.push(tokio::spawn(async move {
            // Keys of this run only: a key's versions start again at 1 in every run.
            let run = u64::from(std::process::id()) * 1_000_000;
            let mut producer = Producer::new(team, 20_000, 1.0, 9).offset(run);
            let mut next = tokio::time::Instant::now();
            while tokio::time::Instant::now() < until {
                let events: Vec<_> = (0..100).map(|_| producer.next_event().0).collect();
                let request = PublishRequest {
                    events,
                    ack: Ack::Durable,
                    timeout_ms: 0,
                };
                match client.publish(request).await {
                    Ok(r) => {
                        for x in &r.results {
                            let i = match (&x.status, x.via_outbox) {
                                (ItemStatus::Accepted, false) => 0,
                                (ItemStatus::Accepted, true) => 1,
                                (status, _) => {
                                    if counts[2].load(Ordering::Relaxed) == 0 {
                                        eprintln!("not accepted: {status:?}");
                                    }
                                    2
                                }
                            };
                            counts[i].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        if counts[2].fetch_add(100, Ordering::Relaxed) == 0 {
                            eprintln!("a publish failed: {e}");
                        }
                    }
                }
                next += per_batch;
                tokio::time::sleep_until(next).await;
            }
        }));
    }
    let mut last = [0u64; 3];
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        println!(
            "accepted {}/s, through the outbox {}/s, refused or failed {}/s",
            now[0] - last[0],
            now[1] - last[1],
            now[2] - last[2]
        );
        last = [now[0], now[1], now[2]];
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut term) = signal(SignalKind::terminate()) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}
