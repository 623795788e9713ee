//! A scaled-out hub for tests: real ZooKeeper, tansu and PostgreSQL processes, then a
//! publisher, listeners and query processes (`datahub publisher|listener|query`), each on
//! its own loopback port, registered in ZooKeeper. Built with the same arguments as `datahub
//! up` ([`Shared::args`]).

use std::path::Path;
use std::time::{Duration, Instant};

use arpc::registry::ZooKeeper;
use arpc::registry::testing::TestingServer;
use arpc_example_datahub::directory::Backend;
use arpc_example_datahub::directory::zookeeper::ZkDirectory;
use arpc_example_datahub::listener::status::ListenerStatus;
use arpc_example_datahub::scaled_out::{Role, Shared};
use arpc_example_datahub::testing::{postgres, tansu};

use super::{HubProcess, TempDir, View};

/// The ZooKeeper session timeout of every process (short, so that a killed process's
/// registrations go quickly).
pub const SESSION: Duration = Duration::from_secs(4);

pub struct ScaledHub {
    pub zk: TestingServer,
    pub broker: tansu::Broker,
    pub pg: postgres::Cluster,
    pub shared: Shared,
    pub publisher: HubProcess,
    pub listeners: Vec<HubProcess>,
    pub queries: Vec<HubProcess>,
    /// The hub as a checker sees it (directory in ZooKeeper, shards on PostgreSQL).
    pub view: View,
    dirs: Vec<TempDir>,
}

impl ScaledHub {
    /// Starts the parts, a publisher, `listeners` listeners and `queries` query processes.
    pub async fn start(name: &str, listeners: usize, queries: usize) -> Self {
        let zk = TestingServer::start(Duration::from_millis(100)).expect("ZooKeeper starts");
        let broker = tansu::Broker::start(tansu::Storage::Memory).expect("tansu starts");
        let pg = postgres::Cluster::start().expect("PostgreSQL starts");
        let shards = (0..4)
            .map(|i| pg.create_database(&format!("shard_{i}")).unwrap())
            .collect();
        let shared = Shared {
            zookeeper: zk.url("/hub", SESSION),
            kafka: broker.brokers(),
            shards,
            partitions: 8,
            group: "datahub".into(),
        };
        let mut dirs = Vec::new();
        let mut spawn = |role: Role, i: usize| {
            let dir = TempDir::new(&format!("{name}-{}-{i}", role.name()));
            let process = HubProcess::spawn(&shared.args(role, dir.path()), &[]);
            dirs.push(dir);
            process
        };
        let publisher = spawn(Role::Publisher, 0);
        let listeners = (0..listeners).map(|i| spawn(Role::Listener, i)).collect();
        let queries = (0..queries).map(|i| spawn(Role::Query, i)).collect();
        let view_dir = TempDir::new(&format!("{name}-view"));
        let backend = Backend::ZooKeeper(ZkDirectory::connect(&shared.zookeeper).await.unwrap());
        let view = View::with_backend(view_dir.path(), shared.partitions, backend).await;
        dirs.push(view_dir);
        Self {
            zk,
            broker,
            pg,
            shared,
            publisher,
            listeners,
            queries,
            view,
            dirs,
        }
    }

    /// The registry the processes announce themselves in.
    pub fn registry(&self) -> ZooKeeper {
        match arpc::registry::Registry::from_url(&self.shared.zookeeper).unwrap() {
            arpc::registry::Registry::ZooKeeper(zk) => zk,
            other => panic!("not ZooKeeper: {other:?}"),
        }
    }

    /// A `Query` client over the query processes ZooKeeper lists, once it knows `n` of them.
    pub async fn query_client(&self, n: usize) -> arpc_example_datahub::QueryClient {
        let client = arpc_example_datahub::QueryClient::discover(&self.registry());
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.channel().instances().len() < n {
            assert!(Instant::now() < deadline, "{n} query processes discovered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        client
    }

    /// Every live listener's latest status, as any process's `Admin` sees them.
    pub async fn statuses(&self) -> Vec<ListenerStatus> {
        self.view.control.listener_statuses().await
    }

    /// Waits until the listeners hold every log partition exactly once, `listeners` of them
    /// with some; returns their statuses.
    pub async fn settled(&self, listeners: usize, timeout: Duration) -> Vec<ListenerStatus> {
        let all = 2 * self.shared.partitions as usize;
        let deadline = Instant::now() + timeout;
        loop {
            let now = arpc_example_datahub::clock::now_ms();
            let statuses: Vec<_> = self
                .statuses()
                .await
                .into_iter()
                .filter(|s| now - s.at_ms < 2_000 && !s.partitions.is_empty())
                .collect();
            let mut owned: Vec<_> = statuses
                .iter()
                .flat_map(|s| s.partitions.iter().map(|p| (p.group, p.partition)))
                .collect();
            let total = owned.len();
            owned.sort();
            owned.dedup();
            if statuses.len() == listeners && total == all && owned.len() == all {
                return statuses;
            }
            assert!(
                Instant::now() < deadline,
                "not settled within {timeout:?}: {} listeners own {total} partitions ({} distinct) of {all}",
                statuses.len(),
                owned.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs `datahub admin --zookeeper URL ARGS…`; returns its output, or panics with it.
    pub fn admin(&self, args: &[&str]) -> String {
        match self.try_admin(args) {
            Ok(out) => out,
            Err(e) => panic!("datahub admin {args:?} failed: {e}"),
        }
    }

    /// Runs `datahub admin --zookeeper URL ARGS…`: its output, or its error output.
    pub fn try_admin(&self, args: &[&str]) -> Result<String, String> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_datahub"))
            .args(["admin", "--zookeeper", &self.shared.zookeeper])
            .args(args)
            .output()
            .expect("datahub admin runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!("{}{stdout}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// The files of the process started `n`-th (publisher 0, then listeners, then queries).
    pub fn dir(&self, n: usize) -> &Path {
        self.dirs[n].path()
    }
}
