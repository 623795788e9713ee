//! The hub scaled out over processes: one binary, three roles.
//!
//! | role | command | runs | serves (registered in ZooKeeper) |
//! |---|---|---|---|
//! | publisher | `datahub publisher` | the publisher, producing to the Kafka-protocol broker (the local outbox while it is unreachable) | `Publisher`, `Admin` |
//! | listener | `datahub listener` (two or more) | a listener sharing the log partitions with the others (assigned through ZooKeeper), the mover, and the invalidation of the query processes' caches | `Admin` |
//! | query | `datahub query` (two or more) | the read path, with its cache | `Query`, `Caches`, `Admin` |
//!
//! What they share: the partition directory, pauses, seeks, replays and move jobs in one
//! ZooKeeper znode (`directory/zookeeper.rs`), each listener's status in an ephemeral znode
//! next to it (so `Admin.listeners` in any process shows every listener), the log on the
//! broker, and the shards (PostgreSQL). Each process announces its services in the
//! registry's Curator layout (`<base>/<service>/<instance id>`); clients, `datahub admin
//! --zookeeper …` and the listeners (to reach the query processes' caches:
//! `query/remote.rs`) find them there, and keep the instances they know while ZooKeeper is
//! away.
//!
//! [`up`](up::up) (feature `postgres`) starts all of it on one box, with its own ZooKeeper,
//! tansu and PostgreSQL.

#[cfg(feature = "postgres")]
pub mod up;

use std::path::Path;

use crate::hub::HubConfig;
use crate::log::LogConfig;
use crate::log::kafka::KafkaConfig;

/// What a process of a scaled-out hub is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The publisher.
    Publisher,
    /// A listener.
    Listener,
    /// A read-path process.
    Query,
}

impl Role {
    /// The subcommand that runs it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Listener => "listener",
            Role::Query => "query",
        }
    }
}

/// Where the shared parts of a scaled-out hub are.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The registry and directory: `zk://host:port/base?session_timeout_ms=N`.
    pub zookeeper: String,
    /// The broker(s): `host:port,…`.
    pub kafka: String,
    /// Shard URLs, used when the directory is created (the first process to start).
    pub shards: Vec<String>,
    /// Log partitions per group.
    pub partitions: u32,
    /// The listeners' group name (topics and assignment).
    pub group: String,
}

impl Shared {
    /// The configuration of a `role` process keeping its local files (meta file, outbox)
    /// under `dir`.
    pub fn config(&self, role: Role, dir: &Path) -> HubConfig {
        let mut config = HubConfig::embedded(dir);
        config.log = LogConfig::with_partitions(self.partitions);
        config.shards.clone_from(&self.shards);
        config.run_publisher = role == Role::Publisher;
        config.run_listener = role == Role::Listener;
        config.run_query = role == Role::Query;
        config.zookeeper = Some(self.zookeeper.clone());
        // The read path needs no log.
        config.kafka =
            (role != Role::Query).then(|| KafkaConfig::new(self.kafka.clone(), self.group.clone()));
        config
    }

    /// The command-line arguments that run a `role` process with its files under `dir`,
    /// listening on a free loopback port (printed as `listening on ADDR`), with metrics on
    /// another (`metrics on ADDR`).
    pub fn args(&self, role: Role, dir: &Path) -> Vec<String> {
        vec![
            role.name().to_owned(),
            "--dir".into(),
            dir.display().to_string(),
            "--addr".into(),
            "127.0.0.1:0".into(),
            "--metrics-addr".into(),
            "127.0.0.1:0".into(),
            "--zookeeper".into(),
            self.zookeeper.clone(),
            "--kafka".into(),
            self.kafka.clone(),
            "--shards".into(),
            self.shards.join(","),
            "--partitions".into(),
            self.partitions.to_string(),
            "--group".into(),
            self.group.clone(),
        ]
    }
}
