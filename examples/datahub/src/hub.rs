//! Putting the parts together: a hub process from a [`HubConfig`].
//!
//! One process can be all of the hub (the embedded default: the demo), or one role of it
//! (publisher or listener, in Kafka mode, where several processes share the broker, the
//! directory and the shards).

use std::path::PathBuf;
use std::sync::Arc;

use arpc::metrics::Metrics;
use arpc::server::PoolConfig;
use tokio::net::TcpListener;

use crate::admin::AdminService;
use crate::control::Control;
use crate::directory::{Backend, Directory, DirectoryError, ShardSpec, SqliteDirectory};
use crate::faults::Holds;
use crate::hot::HotStats;
use crate::listener::applied::AppliedTracker;
use crate::listener::{Listener, ListenerConfig, ListenerParts};
use crate::log::{GroupCommit, LogConfig, LogError, SegmentLog};
use crate::meta::{MetaDb, MetaError};
use crate::mover::Mover;
use crate::publisher::{PublisherConfig, PublisherService, Sink};
use crate::query::invalidate::Invalidations;
use crate::query::{QueryConfig, QueryService};
use crate::store::{ShardOptions, ShardSet, StoreError};

/// What a hub process runs, and on what.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// Where the embedded parts live: `log/`, `meta.sqlite`, `shards/`.
    pub data_dir: PathBuf,
    /// The embedded log's layout (its partition count is the hub's, in every mode).
    pub log: LogConfig,
    /// Shard URLs when the directory is created (default: four SQLite files under
    /// `data_dir/shards`). Later shards are added through the control API.
    pub shards: Vec<String>,
    /// How shards are opened.
    pub shard_options: ShardOptions,
    /// The listener's settings.
    pub listener: ListenerConfig,
    /// The publisher's settings.
    pub publisher: PublisherConfig,
    /// Run the listener (and the mover) in this process.
    pub run_listener: bool,
    /// Run the publisher in this process.
    pub run_publisher: bool,
    /// Serve the read path (`Query`) from this process.
    pub run_query: bool,
    /// The read path's settings.
    pub query: QueryConfig,
    /// Crash-test hold points.
    pub holds: Holds,
    /// The directory in ZooKeeper (`zk://host:port/base`) instead of the meta file.
    #[cfg(feature = "zookeeper")]
    pub zookeeper: Option<String>,
    /// The log on Kafka instead of the embedded log.
    #[cfg(feature = "kafka")]
    pub kafka: Option<crate::log::kafka::KafkaConfig>,
}

impl HubConfig {
    /// Everything in one process, embedded, under `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            log: LogConfig::default(),
            shards: Vec::new(),
            shard_options: ShardOptions::default(),
            listener: ListenerConfig::default(),
            publisher: PublisherConfig::default(),
            run_listener: true,
            run_publisher: true,
            run_query: true,
            query: QueryConfig::default(),
            holds: Holds::default(),
            #[cfg(feature = "zookeeper")]
            zookeeper: None,
            #[cfg(feature = "kafka")]
            kafka: None,
        }
    }

    /// A listener for this configuration (no pipelines yet).
    pub(crate) fn listener(
        &self,
        directory: &Directory,
        shards: &ShardSet,
        meta: &MetaDb,
        applied: &Arc<AppliedTracker>,
        hot: &Arc<HotStats>,
        invalidations: &Invalidations,
    ) -> Arc<Listener> {
        Listener::new(ListenerParts {
            config: self.listener.clone(),
            partitions: self.log.partitions,
            directory: directory.clone(),
            shards: shards.clone(),
            meta: meta.clone(),
            applied: Arc::clone(applied),
            hot: Arc::clone(hot),
            holds: self.holds.clone(),
            invalidations: invalidations.clone(),
        })
    }

    /// The default shards: `count` SQLite files under `data_dir/shards`.
    pub fn sqlite_shards(&self, count: u32) -> Vec<String> {
        (0..count)
            .map(|i| {
                format!(
                    "sqlite:{}",
                    self.data_dir
                        .join("shards")
                        .join(format!("shard-{i}.sqlite"))
                        .display()
                )
            })
            .collect()
    }
}

/// What can stop a hub from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The log.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The directory.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// A shard.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The meta file.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The configuration.
    #[error("configuration: {0}")]
    Config(String),
}

/// A running hub process.
#[derive(Debug)]
pub struct Hub {
    /// The directory.
    pub directory: Directory,
    /// The shards.
    pub shards: ShardSet,
    /// The meta file.
    pub meta: MetaDb,
    /// The control API.
    pub control: Control,
    /// The embedded log (also the outbox in Kafka mode), when this process has one.
    pub log: Option<Arc<SegmentLog>>,
    /// The listener, when this process runs one.
    pub listener: Option<Arc<Listener>>,
    /// The publisher, when this process runs one.
    pub publisher: Option<Arc<PublisherService>>,
    /// Rates and histograms.
    pub hot: Arc<HotStats>,
    /// Partitions per group.
    pub partitions: u32,
    /// The read path (served when the configuration says `run_query`).
    pub query: QueryService,
    /// arpc's series of the calls this process serves, and the hub's (see
    /// [`metrics`](crate::metrics)); serve them with [`Metrics::serve`].
    pub metrics: Metrics,
    run_query: bool,
    group_commit: Option<Arc<GroupCommit>>,
    _mover: Option<Mover>,
    #[cfg(feature = "kafka")]
    _kafka: Option<crate::log::kafka::KafkaParts>,
}

impl Hub {
    /// Opens the parts this process runs. Must be called inside a tokio runtime.
    pub async fn open(config: HubConfig) -> Result<Hub, HubError> {
        let partitions = config.log.partitions;
        crate::partition::check_partition_count(partitions).map_err(HubError::Config)?;
        let meta = MetaDb::open(&config.data_dir.join("meta.sqlite"))?;
        let shard_urls = if config.shards.is_empty() {
            config.sqlite_shards(4)
        } else {
            config.shards.clone()
        };
        let specs = shard_urls
            .into_iter()
            .map(|url| ShardSpec {
                url,
                added_ms: crate::clock::now_ms(),
            })
            .collect();
        let backend = directory_backend(&config, &meta).await?;
        let directory = Directory::open(backend, specs).await?;
        let shards = ShardSet::new(directory.clone(), config.shard_options.clone());
        let control = Control::new(
            directory.clone(),
            shards.clone(),
            partitions,
            Some(meta.clone()),
        );
        let hot = Arc::new(HotStats::new());
        let applied = Arc::new(AppliedTracker::new(partitions));
        let invalidations = Invalidations::default();
        let query = QueryService::new(shards.clone(), &config.query, &invalidations);
        // A listener of a scaled-out hub also tells the query processes the registry lists.
        #[cfg(feature = "zookeeper")]
        if config.run_listener
            && let Backend::ZooKeeper(zk) = directory.backend()
        {
            use arpc::registry::Discovery;
            let changes = zk
                .registry()
                .discover(crate::CachesClient::schema().full_name);
            invalidations.set_remote(crate::query::remote::RemoteCaches::follow(changes));
        }

        #[cfg(feature = "kafka")]
        if let Some(kafka) = &config.kafka {
            return crate::log::kafka::open_hub(
                &config,
                kafka,
                directory,
                shards,
                meta,
                control,
                hot,
                applied,
                (invalidations, query),
            )
            .await;
        }

        if !config.run_listener && !config.run_publisher {
            // The read path alone (`datahub query`): no log.
            let metrics = hub_metrics(None, &directory, &query);
            return Ok(Hub {
                metrics,
                directory,
                shards,
                meta,
                control,
                log: None,
                listener: None,
                publisher: None,
                hot,
                partitions,
                query,
                run_query: config.run_query,
                group_commit: None,
                _mover: None,
                #[cfg(feature = "kafka")]
                _kafka: None,
            });
        }
        let log = Arc::new(SegmentLog::open(
            config.data_dir.join("log"),
            config.log.clone(),
        )?);
        let recovery = log.recovery();
        if recovery.truncated_bytes > 0 {
            eprintln!(
                "log: cut {} bytes of torn tail in {} partition(s)",
                recovery.truncated_bytes, recovery.repaired_partitions
            );
        }
        let group_commit = Arc::new(GroupCommit::start(Arc::clone(&log)));
        let (listener, mover) = if config.run_listener {
            let listener =
                config.listener(&directory, &shards, &meta, &applied, &hot, &invalidations);
            listener
                .start_embedded(&log)
                .await
                .map_err(HubError::Config)?;
            let mover = Mover::start(
                directory.clone(),
                shards.clone(),
                partitions,
                Arc::new(|_| true),
                config.holds.clone(),
            );
            (Some(listener), Some(mover))
        } else {
            (None, None)
        };
        if config.run_publisher {
            tokio::spawn(report_group_commit(
                Arc::downgrade(&group_commit),
                meta.clone(),
            ));
        }
        let publisher = config.run_publisher.then(|| {
            let mut pc = config.publisher.clone();
            pc.partitions = partitions;
            Arc::new(PublisherService::new(
                Sink::Segment(Arc::clone(&group_commit)),
                pc,
                listener.as_ref().map(|_| Arc::clone(&applied)),
            ))
        });
        let metrics = hub_metrics(listener.as_ref(), &directory, &query);
        Ok(Hub {
            metrics,
            directory,
            shards,
            meta,
            control,
            log: Some(log),
            listener,
            publisher,
            hot,
            partitions,
            query,
            run_query: config.run_query,
            group_commit: Some(group_commit),
            _mover: mover,
            #[cfg(feature = "kafka")]
            _kafka: None,
        })
    }

    /// Assembles a hub from parts (Kafka mode builds its own).
    #[allow(clippy::too_many_arguments)]
    #[cfg(feature = "kafka")]
    pub(crate) fn from_parts(
        directory: Directory,
        shards: ShardSet,
        meta: MetaDb,
        control: Control,
        log: Option<Arc<SegmentLog>>,
        listener: Option<Arc<Listener>>,
        publisher: Option<Arc<PublisherService>>,
        hot: Arc<HotStats>,
        partitions: u32,
        mover: Option<Mover>,
        (query, run_query): (QueryService, bool),
        kafka: crate::log::kafka::KafkaParts,
    ) -> Hub {
        let metrics = hub_metrics(listener.as_ref(), &directory, &query);
        Hub {
            metrics,
            directory,
            shards,
            meta,
            control,
            log,
            listener,
            publisher,
            hot,
            partitions,
            query,
            run_query,
            group_commit: None,
            _mover: mover,
            _kafka: Some(kafka),
        }
    }

    /// The `Admin` service of this process.
    pub fn admin(&self) -> AdminService {
        AdminService::new(
            self.control.clone(),
            Arc::clone(&self.hot),
            self.listener.clone(),
        )
    }

    /// The group committer of the embedded log.
    pub fn group_commit(&self) -> Option<&Arc<GroupCommit>> {
        self.group_commit.as_ref()
    }

    /// Serves the publisher, the read path and the admin on `listener` until `shutdown` (the
    /// listener keeps running until the hub is dropped).
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let mut builder = arpc::Server::builder()
            .metrics(&self.metrics)
            .blocking_pool(
                // Publishes wait for a group commit (a few ms): enough threads that the group
                // grows with the load, and a queue that refuses instead of growing without end.
                PoolConfig::default().threads(64).queue(256),
            );
        if let Some(publisher) = &self.publisher {
            builder = builder.add_service(crate::PublisherServer::from_arc(Arc::clone(publisher)));
        }
        if self.run_query {
            builder = builder
                .add_service(crate::QueryServer::new(self.query.clone()))
                .add_service(crate::CachesServer::new(
                    crate::query::remote::CachesService::new(self.query.clone()),
                ));
        }
        builder = builder.add_service(crate::AdminServer::new(self.admin()));
        // A hub whose directory is in ZooKeeper announces its services there (the registry's
        // Curator layout), so that clients, the admin command and the other processes find
        // them.
        #[cfg(feature = "zookeeper")]
        if let Backend::ZooKeeper(zk) = self.directory.backend() {
            builder
                .registry(zk.registry().clone())
                .serve_with_incoming(listener, shutdown)
                .await;
            return;
        }
        builder.serve_with_incoming(listener, shutdown).await;
    }
}

/// A registry with the hub's series of this process.
fn hub_metrics(
    listener: Option<&Arc<Listener>>,
    directory: &Directory,
    query: &QueryService,
) -> Metrics {
    let metrics = Metrics::new();
    crate::metrics::register(&metrics, listener, directory.clone(), query.clone());
    metrics
}

/// The group committer's counters as others read them: a `publisher-PID` row of the meta
/// file's status table, every 250 ms.
async fn report_group_commit(gc: std::sync::Weak<GroupCommit>, meta: MetaDb) {
    use std::sync::atomic::Ordering;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let Some(gc) = gc.upgrade() else {
            return;
        };
        let s = gc.stats();
        let doc = serde_json::json!({
            "commits": s.commits.load(Ordering::Relaxed),
            "records": s.records.load(Ordering::Relaxed),
            "requests": s.requests.load(Ordering::Relaxed),
            "sync_nanos": s.sync_nanos.load(Ordering::Relaxed),
        });
        drop(gc);
        let _ = meta
            .put_status(
                format!("publisher-{}", std::process::id()),
                doc.to_string(),
                crate::clock::now_ms(),
            )
            .await;
    }
}

async fn directory_backend(config: &HubConfig, meta: &MetaDb) -> Result<Backend, HubError> {
    #[cfg(feature = "zookeeper")]
    if let Some(url) = &config.zookeeper {
        return Ok(Backend::ZooKeeper(
            crate::directory::zookeeper::ZkDirectory::connect(url).await?,
        ));
    }
    let _ = config;
    Ok(Backend::Sqlite(SqliteDirectory::new(meta.clone())))
}
