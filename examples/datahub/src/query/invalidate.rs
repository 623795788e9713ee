//! Invalidation: the listener's commit stage tells the read path's caches which owners (a
//! member or a seller) a committed batch changed, before it reports the batch applied. A read
//! that starts after a publish was answered `Ack::Applied` therefore never gets the cached
//! screen from before it.

use std::sync::{Arc, PoisonError, RwLock, Weak};

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

    /// `owners` changed: every live subscriber drops them before this returns.
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
