//! # The data hub
//!
//! arpc's flagship example: teams stream their domain data (members, sellers, benefits,
//! points, items) into one hub, which logs it, processes it and stores it on shards, so that
//! a display screen can be served from one place: the write side, the read path (`Query`),
//! and the admin plane (`Admin`).
//!
//! ```text
//! teams ──publish──► Publisher ──group commit──► log (segment files | Kafka + outbox)
//!                                                   │ one pipeline per log partition
//!   decode+validate → dedupe → enrich → project → route → write → commit offset
//!                                                   │ key → murmur2 → lp (1024) → directory → shard
//!                                          shards (SQLite files | PostgreSQL databases)
//!   readers ──screen (arpc, async)──► Query ──cache (invalidated at commit)──► ≤ 2 shard reads
//! ```
//!
//! | module | what it holds |
//! |---|---|
//! | [`model`] | the messages: `Event`, its per-domain `Payload`, per-item results, stored rows |
//! | [`service`] | the `Publisher`, `Query` and `Admin` traits: the IDL |
//! | [`admin`] | the `Admin` implementation over the control API, and its messages |
//! | [`validate`] | the rules an event must follow |
//! | [`partition`] | Kafka's murmur2, logical partitions, domain groups |
//! | [`log`] | the segment log, group commit, Kafka and the outbox |
//! | [`publisher`] | the `Publisher` implementation: per-item results, dedupe, acks |
//! | [`query`] | the `Query` implementation: screens, the cache, coalescing, invalidation, `MOVED` retries |
//! | [`listener`] | one pipeline per log partition, backpressure, runtime control |
//! | [`dag`] | the pipeline's stages |
//! | [`store`] | shards: version-guarded upserts, fences, checksums (SQLite, PostgreSQL) |
//! | [`directory`] | the partition directory, pause state, move jobs (SQLite, ZooKeeper), offsets |
//! | [`control`] | the runtime control API (pause, resume, concurrency, seek, replay, moves) |
//! | [`mover`] | moving a logical partition to another shard, online |
//! | [`hot`] | per-partition write rates, skew and a suggested plan |
//! | [`hub`] | putting the parts together from a configuration |
//! | [`metrics`] | the hub's Prometheus series, next to arpc's |
//! | [`meta`] | the meta SQLite file: offsets, dead letters, listener status (and the embedded directory) |
//! | [`workload`] | five synthetic teams with Zipf-skewed keys (demo, tests, benchmarks) |
//! | [`faults`] | hold points for crash tests |
//! | [`clock`] | Unix milliseconds |
//! | [`demo`] | the README's main job |
//! | [`testing`] | throwaway PostgreSQL and Kafka-protocol brokers for tests and benchmarks |

//!
//! ## Feature flags
//!
//! | feature | default | what |
//! |---|---|---|
//! | `kafka` | off | the log on a Kafka-protocol broker (rdkafka), with the segment log as outbox |
//! | `postgres` | off | shards on PostgreSQL (tokio-postgres, deadpool) |
//! | `zookeeper` | off | the directory in a ZooKeeper znode; with `kafka`, listeners coordinated there |
//!
//! Without features everything is embedded: the segment log, SQLite shards, the directory in
//! the `meta` SQLite file, one process (the demo).

pub mod admin;
pub mod clock;
pub mod control;
pub mod dag;
pub mod demo;
pub mod directory;
pub mod faults;
pub mod hot;
pub mod hub;
pub mod listener;
pub mod log;
pub mod meta;
pub mod metrics;
pub mod model;
pub mod mover;
pub mod partition;
pub mod publisher;
pub mod query;
#[cfg(all(feature = "kafka", feature = "zookeeper"))]
pub mod scaled_out;
pub mod service;
pub mod store;
pub mod testing;
pub mod trace;
pub mod validate;
pub mod workload;

pub use self::service::{
    Admin, AdminClient, AdminServer, Caches, CachesClient, CachesServer, Publisher,
    PublisherClient, PublisherServer, Query, QueryClient, QueryServer,
};
