//! The log on a Kafka-protocol broker (feature `kafka`), through rdkafka and its bundled
//! librdkafka.
//!
//! One topic per domain group (`datahub.member`, `datahub.seller`), with the hub's partition
//! count; the hub creates them (brokers such as tansu do not auto-create). Publishing is in
//! [`publisher::outbox`](crate::publisher::outbox) (idempotent producer, local outbox while
//! the broker is down); consuming in [`consumer`] (a consumer-group member whose assigned
//! partitions each get a pipeline, offsets committed to the group after the shards commit).

pub mod consumer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::control::Control;
use crate::directory::Directory;
use crate::hot::HotStats;
use crate::hub::{Hub, HubConfig, HubError};
use crate::listener::applied::AppliedTracker;
use crate::log::{GroupCommit, LogConfig, LogError, SegmentLog};
use crate::meta::MetaDb;
use crate::mover::Mover;
use crate::partition::Group;
use crate::publisher::outbox::KafkaSink;
use crate::publisher::{PublisherService, Sink};
use crate::query::QueryService;
use crate::query::invalidate::Invalidations;
use crate::store::ShardSet;

pub use self::consumer::{Assignment, GroupOffsets, Member, PartitionSource};

/// How a hub process talks to the broker.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KafkaConfig {
    /// `host:port,…`.
    pub brokers: String,
    /// The consumer group of the listeners.
    pub group: String,
    /// A produce that has not succeeded within this long fails, and its partition goes to
    /// the outbox. Default 2 s.
    pub outbox_after: Duration,
    /// The group session timeout: a listener that stops heart-beating this long loses its
    /// partitions to the others. Default 6 s.
    pub session_timeout: Duration,
    /// How long the broker may hold a fetch waiting for records. Default 20 ms (tansu holds
    /// fetches for about half of this setting, even with data waiting, so keep it small).
    pub fetch_wait: Duration,
}

impl KafkaConfig {
    /// Defaults for `brokers` and consumer `group`.
    pub fn new(brokers: impl Into<String>, group: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            group: group.into(),
            outbox_after: Duration::from_secs(2),
            session_timeout: Duration::from_secs(6),
            fetch_wait: Duration::from_millis(20),
        }
    }

    /// Sets how long a produce may take before its partition goes to the outbox.
    pub fn outbox_after(mut self, after: Duration) -> Self {
        self.outbox_after = after;
        self
    }
}

/// Creates the groups' topics with `partitions` each (already existing is fine). Retries
/// while the broker is unreachable, up to `patience`.
pub async fn create_topics(
    config: &KafkaConfig,
    partitions: u32,
    patience: Duration,
) -> Result<(), LogError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()
        .map_err(|e| LogError::Broker(e.to_string()))?;
    let topics: Vec<String> = Group::ALL.iter().map(|g| g.topic()).collect();
    let count = i32::try_from(partitions).map_err(|e| LogError::Config(e.to_string()))?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, count, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    let deadline = Instant::now() + patience;
    loop {
        let outcome = match admin.create_topics(new.iter(), &options).await {
            Ok(results) => results
                .into_iter()
                .map(|r| match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => Ok(()),
                    Err((name, code)) => Err(format!("{name}: {code}")),
                })
                .collect::<Result<Vec<()>, String>>()
                .map(|_| ()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(LogError::Broker(format!("creating the topics: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// How this process's listener shares partitions: through ZooKeeper when the directory is
/// there (several listener processes), else it takes them all (the embedded directory is one
/// process's).
fn assignment(config: &HubConfig) -> Assignment {
    #[cfg(feature = "zookeeper")]
    if let Some(url) = &config.zookeeper
        && let Ok(arpc::registry::Registry::ZooKeeper(registry)) =
            arpc::registry::Registry::from_url(url)
    {
        return Assignment::ZooKeeper(registry);
    }
    let _ = config;
    Assignment::All
}

/// Reads every record of both topics from the beginning until none has come for `idle`
/// (for checks and benchmarks: a plain consumer outside any group).
pub async fn read_topics(
    config: &KafkaConfig,
    partitions: u32,
    idle: Duration,
) -> Result<Vec<crate::log::LogRecord>, LogError> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", format!("datahub-reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set(
            "fetch.wait.max.ms",
            config.fetch_wait.as_millis().to_string(),
        )
        .create()
        .map_err(|e| LogError::Broker(e.to_string()))?;
    let mut tpl = TopicPartitionList::new();
    for group in Group::ALL {
        for p in 0..partitions {
            tpl.add_partition_offset(
                &group.topic(),
                i32::try_from(p).unwrap_or(0),
                Offset::Beginning,
            )
            .map_err(|e| LogError::Broker(e.to_string()))?;
        }
    }
    consumer
        .assign(&tpl)
        .map_err(|e| LogError::Broker(e.to_string()))?;
    let mut out = Vec::new();
    while let Ok(Ok(m)) = tokio::time::timeout(idle, consumer.recv()).await {
        let Some(group) = Group::ALL.into_iter().find(|g| g.topic() == m.topic()) else {
            continue;
        };
        out.push(crate::log::LogRecord {
            partition: crate::partition::LogPartition {
                group,
                partition: u32::try_from(m.partition()).unwrap_or(0),
            },
            offset: u64::try_from(m.offset()).unwrap_or(0),
            timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
            key: m
                .key()
                .map(bytes::Bytes::copy_from_slice)
                .unwrap_or_default(),
            value: m
                .payload()
                .map(bytes::Bytes::copy_from_slice)
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// What a Kafka-mode hub keeps running besides the common parts.
#[derive(Debug)]
pub struct KafkaParts {
    /// The publisher's sink, when this process publishes.
    pub sink: Option<Arc<KafkaSink>>,
    /// The group member, when this process listens.
    pub member: Option<Member>,
}

/// Opens a Kafka-mode hub process.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn open_hub(
    config: &HubConfig,
    kafka: &KafkaConfig,
    directory: Directory,
    shards: ShardSet,
    meta: MetaDb,
    control: Control,
    hot: Arc<HotStats>,
    applied: Arc<AppliedTracker>,
    reads: (Invalidations, QueryService),
) -> Result<Hub, HubError> {
    let (invalidations, query) = reads;
    let partitions = config.log.partitions;
    create_topics(kafka, partitions, Duration::from_secs(30)).await?;
    let outbox = Arc::new(SegmentLog::open(
        config.data_dir.join("outbox"),
        LogConfig::with_partitions(partitions),
    )?);
    let outbox_commit = Arc::new(GroupCommit::start(Arc::clone(&outbox)));
    let (listener, member, mover) = if config.run_listener {
        let listener = config.listener(&directory, &shards, &meta, &applied, &hot, &invalidations);
        let member = Member::start(kafka, partitions, Arc::clone(&listener), assignment(config))?;
        let owner = Arc::clone(&listener);
        let mover = Mover::start(
            directory.clone(),
            shards.clone(),
            partitions,
            Arc::new(move |p| owner.partitions().contains(&p)),
            config.holds.clone(),
        );
        (Some(listener), Some(member), Some(mover))
    } else {
        (None, None, None)
    };
    let sink = if config.run_publisher {
        Some(KafkaSink::start(kafka.clone(), outbox_commit, meta.clone()).await?)
    } else {
        None
    };
    let publisher = sink.as_ref().map(|sink| {
        let mut pc = config.publisher.clone();
        pc.partitions = partitions;
        Arc::new(PublisherService::new(
            Sink::Kafka(Arc::clone(sink)),
            pc,
            listener.as_ref().map(|_| Arc::clone(&applied)),
        ))
    });
    Ok(Hub::from_parts(
        directory,
        shards,
        meta,
        control,
        Some(outbox),
        listener,
        publisher,
        hot,
        partitions,
        mover,
        (query, config.run_query),
        KafkaParts { sink, member },
    ))
}
