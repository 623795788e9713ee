//! Caches in other processes. When the read path runs in its own processes (`datahub
//! query`), a listener's commit stage cannot reach their caches in memory: each query process
//! serves the small `Caches` service (package `datahub.cache.v1`) and registers it in
//! ZooKeeper, and every listener process keeps the list of them ([`RemoteCaches`], fed by the
//! registry's discovery) and tells all of them, concurrently, what a batch changed before
//! it reports the batch applied.
//!
//! The bound: a query process that does not answer within [`ANSWER_WITHIN`] is skipped for
//! that batch (counted in `hub_remote_invalidations_failed_total`), so a stopped process
//! cannot stall the listeners; its cache may then serve an owner's older screen for at
//! most the cache's TTL (10 s), and a caller that needs its own write uses `min_version`,
//! which never trusts the cache. A process that dies drops out of the list when its
//! ZooKeeper session ends; until then, a call to it fails at once (connection refused).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use arpc::Status;
use arpc::registry::{Change, Changes};
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use super::QueryService;
use super::invalidate::Owner;
use crate::model::Empty;
use crate::partition::Group;

/// How long a query process has to confirm an invalidation.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// Owners whose rows changed, by group.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owners {
    /// Member ids (the member group's owners).
    pub members: Vec<u64>,
    /// Seller ids (the seller group's owners).
    pub sellers: Vec<u64>,
}

impl Owners {
    /// `owners`, split by group.
    pub fn from_owners(owners: &[Owner]) -> Self {
        let mut out = Self::default();
        for o in owners {
            match o.group {
                Group::Member => out.members.push(o.id),
                Group::Seller => out.sellers.push(o.id),
            }
        }
        out
    }

    /// Back to owners.
    pub fn to_owners(&self) -> Vec<Owner> {
        let member = self.members.iter().map(|&id| Owner {
            group: Group::Member,
            id,
        });
        let seller = self.sellers.iter().map(|&id| Owner {
            group: Group::Seller,
            id,
        });
        member.chain(seller).collect()
    }
}

/// The `Caches` service of a query process: drops what it is told changed.
#[derive(Debug, Clone)]
pub struct CachesService {
    query: QueryService,
}

impl CachesService {
    /// The service over `query`'s cache.
    pub fn new(query: QueryService) -> Self {
        Self { query }
    }
}

impl crate::Caches for CachesService {
    async fn invalidate(&self, request: Owners) -> Result<Empty, Status> {
        self.query.invalidate(&request.to_owners());
        Ok(Empty::default())
    }
}

struct Peer {
    uri: String,
    client: OnceCell<crate::CachesClient>,
}

/// The query processes the registry lists, told of every change. Cheap to share.
pub struct RemoteCaches {
    peers: RwLock<BTreeMap<String, Arc<Peer>>>,
    failed: AtomicU64,
    sent: AtomicU64,
}

impl std::fmt::Debug for RemoteCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCaches")
            .field("peers", &self.peer_uris())
            .finish_non_exhaustive()
    }
}

impl RemoteCaches {
    /// Follows `changes` (the registry's instances of `datahub.cache.v1.Caches`) for as
    /// long as the returned handle lives. Must be called inside a tokio runtime.
    pub fn follow(changes: Changes) -> Arc<Self> {
        let this = Arc::new(Self {
            peers: RwLock::new(BTreeMap::new()),
            failed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        });
        tokio::spawn(follow(Arc::downgrade(&this), changes));
        this
    }

    /// The addresses of the caches told now.
    pub fn peer_uris(&self) -> Vec<String> {
        let peers = self.peers.read().unwrap_or_else(PoisonError::into_inner);
        peers.values().map(|p| p.uri.clone()).collect()
    }

    /// Invalidations a query process confirmed.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Invalidations a query process did not confirm in time (or refused).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Tells every known query process that `owners` changed; returns once each has
    /// confirmed, failed, or let [`ANSWER_WITHIN`] pass.
    pub async fn send(&self, owners: &[Owner]) {
        if owners.is_empty() {
            return;
        }
        let peers: Vec<Arc<Peer>> = {
            let peers = self.peers.read().unwrap_or_else(PoisonError::into_inner);
            peers.values().cloned().collect()
        };
        if peers.is_empty() {
            return;
        }
        let request = Owners::from_owners(owners);
        let calls = peers.iter().map(|peer| {
            let request = request.clone();
            async move {
                let call = async {
                    let client = peer
                        .client
                        .get_or_try_init(|| crate::CachesClient::connect(peer.uri.clone()))
                        .await
                        .map_err(|e| e.to_string())?;
                    client.invalidate(request).await.map_err(|e| e.to_string())
                };
                match tokio::time::timeout(ANSWER_WITHIN, call).await {
                    Ok(Ok(_)) => {
                        self.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(_)) | Err(_) => {
                        self.failed.fetch_add(1, Ordering::Relaxed);
                        crate::metrics::counters().remote_invalidation_failed();
                    }
                }
            }
        });
        futures_util::future::join_all(calls).await;
    }
}

/// Applies the registry's changes to the list until the list is dropped.
async fn follow(caches: Weak<RemoteCaches>, mut changes: Changes) {
    while let Some(change) = changes.next().await {
        let Some(caches) = caches.upgrade() else {
            return;
        };
        let mut peers = caches.peers.write().unwrap_or_else(PoisonError::into_inner);
        match change {
            Ok(Change::Insert(id, instance)) => {
                let uri = instance.uri();
                if peers.get(&id).is_none_or(|p| p.uri != uri) {
                    peers.insert(
                        id,
                        Arc::new(Peer {
                            uri,
                            client: OnceCell::new(),
                        }),
                    );
                }
            }
            Ok(Change::Remove(id)) => {
                peers.remove(&id);
            }
            // The registry is unreachable: keep the list as it is.
            Err(_) => {}
        }
    }
}
