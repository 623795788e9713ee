//! # arpc-registry
//!
//! Service registration and discovery for arpc. A [`Registrar`] announces an [`Instance`] of a
//! service for as long as its [`Registration`] lives; a [`Discovery`] watches a service name
//! and yields `tower::discover::Change` events ([`Changes`]), so it feeds tower's balancers
//! directly (and arpc's own client-side balancer, which `arpc::Channel::discover` builds).
//!
//! Two implementations, chosen by URL through [`Registry::from_url`]:
//!
//! | URL | what |
//! |---|---|
//! | `static://127.0.0.1:50051,127.0.0.1:50052` | [`Static`]: a fixed list; registering does nothing. The default, so examples run without ZooKeeper |
//! | `zk://127.0.0.1:2181/arpc` (hosts comma-separated; `?session_timeout_ms=N`) | [`ZooKeeper`]: Apache Curator's service-discovery layout under the base path (default `/arpc`) |
//!
//! ZooKeeper layout (Curator's `curator-x-discovery`): `<base>/<service>/<instance id>`, an
//! EPHEMERAL node holding Curator's JSON `ServiceInstance` ([`curator`]), with arpc's metadata
//! ([`InstanceMeta`]: codecs, weight, zone, version) in its `payload`. A JVM service using
//! Curator lists arpc instances and arpc lists Curator-registered ones.
//!
//! Failure behaviour of [`ZooKeeper`]:
//!
//! | event | registrar | discovery |
//! |---|---|---|
//! | connection lost, back within the session timeout | nothing lost: same session, node kept | last known instances kept; watch re-armed |
//! | session expired | new session, node created again | list read again, differences sent |
//! | ZooKeeper down | retries with backoff until it is back, then registers | last known instances kept (an outage of the registry is not an outage of the service) |
//! | the server process dies | its node goes when its session times out | `Remove` sent |
//!
//! [`testing::TestingServer`] starts a throwaway standalone ZooKeeper for tests, as Curator's
//! `TestingServer` does.

pub mod curator;
mod instance;
mod registration;
mod static_list;
#[cfg(feature = "zookeeper")]
pub mod testing;
mod url;
#[cfg(feature = "zookeeper")]
mod zookeeper;

use std::pin::Pin;

use futures_util::Stream;

pub use self::instance::{Instance, InstanceMeta};
pub use self::registration::Registration;
pub use self::static_list::Static;
pub use self::url::Registry;
#[cfg(feature = "zookeeper")]
pub use self::zookeeper::ZooKeeper;
/// The ZooKeeper client crate, for applications that keep their own state in the registry's
/// ensemble through [`ZooKeeper::client`].
#[cfg(feature = "zookeeper")]
pub use zookeeper_client as zk;

/// A change in a service's set of instances, keyed by instance id: what tower's balancers
/// consume (`tower::discover::Discover` is implemented for any such stream).
pub type Change = tower::discover::Change<String, Instance>;

/// The stream of changes a [`Discovery`] yields for one service. It does not end while the
/// registry is reachable or not: an outage produces no events, so consumers keep what they
/// have.
pub type Changes = Pin<Box<dyn Stream<Item = Result<Change, RegistryError>> + Send>>;

/// Announces instances.
pub trait Registrar: std::fmt::Debug + Send + Sync + 'static {
    /// Announces `instance` until the registration is deregistered or dropped. Returns at
    /// once; the registration happens (and is repeated after a session loss) in the
    /// background. Must be called within a tokio runtime.
    fn register(&self, instance: Instance) -> Registration;
}

/// Watches services' instances.
pub trait Discovery: std::fmt::Debug + Send + Sync + 'static {
    /// The instances of `service` (its full gRPC name) as they come and go. Must be called
    /// within a tokio runtime.
    fn discover(&self, service: &str) -> Changes;
}

/// What can go wrong with a registry.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry URL cannot be used.
    #[error("bad registry URL `{url}`: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// ZooKeeper refused or failed an operation.
    #[error("ZooKeeper: {0}")]
    ZooKeeper(String),
}
