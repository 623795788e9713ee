//! Invalidation: the listener's commit stage tells the read path's caches which owners (a
//! member or a seller) a committed batch changed, before it reports the batch applied. A read
//! that starts after a publish was answered `Ack::Applied` therefore never gets the cached
//! screen from before it.

use std::sync::{Arc, OnceLock, PoisonError, RwLock, Weak};

use super::remote::RemoteCaches;
use crate::partition::Group;

/// Whose rows changed: a member (member group) or a seller (seller group), by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    /// The group.
    pub group: Group,
    /// The member or seller id (the partition key).
    pub id: u64,
}

/// Something that drops what it holds for some owners (a screen cache).
pub trait Invalidate: Send + Sync {
    /// `owners` changed.
    fn invalidate(&self, owners: &[Owner]);
}

/// The caches to tell, shared by the listener (which sends) and the query services (which
/// subscribe). Cheap to clone.
#[derive(Clone, Default)]
pub struct Invalidations {
    subscribers: Arc<RwLock<Vec<Weak<dyn Invalidate>>>>,
    /// The query processes elsewhere, when the read path is scaled out.
    remote: Arc<OnceLock<Arc<RemoteCaches>>>,
}

impl std::fmt::Debug for Invalidations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidations").finish_non_exhaustive()
    }
}

impl Invalidations {
    /// Tells `cache` of every later change, for as long as it lives.
    pub fn subscribe(&self, cache: &Arc<dyn Invalidate>) {
        let mut subscribers = self
            .subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        subscribers.retain(|s| s.strong_count() > 0);
        subscribers.push(Arc::downgrade(cache));
    }

    /// Also tells the query processes `remote` lists (set once, by a listener process of a
    /// scaled-out hub).
    pub fn set_remote(&self, remote: Arc<RemoteCaches>) {
        let _ = self.remote.set(remote);
    }

    /// The query processes told, when there are any.
    pub fn remote(&self) -> Option<&Arc<RemoteCaches>> {
        self.remote.get()
    }

    /// `owners` changed: this process's caches and every query process elsewhere drop them
    /// before this returns (a remote one that does not confirm in time is skipped: see
    /// [`remote`](super::remote)).
    pub async fn send_all(&self, owners: &[Owner]) {
        self.send(owners);
        if let Some(remote) = self.remote.get() {
            remote.send(owners).await;
        }
    }

    /// `owners` changed: every live subscriber in this process drops them before this
    /// returns.
    pub fn send(&self, owners: &[Owner]) {
        if owners.is_empty() {
            return;
        }
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for s in subscribers.iter().filter_map(Weak::upgrade) {
            s.invalidate(owners);
        }
    }
}
