//! The publisher's memory of recent event ids and key versions, bounded (oldest forgotten).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use foldhash::fast::RandomState;

use crate::partition::LogPartition;

/// What the memory says of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Not seen.
    New,
    /// Seen; where it was logged, when known (`None`: a concurrent publish is logging it).
    Duplicate(Option<(LogPartition, u64)>),
    /// Its key already has this version or a newer one (the version known).
    Stale(u64),
}

/// Keys are shared between the map and the eviction queue (one allocation per id), hashed
/// with foldhash (seeded per process) rather than SipHash: this is on every event's path.
#[derive(Debug)]
pub(crate) struct Recent {
    ids: HashMap<Arc<str>, Option<(LogPartition, u64)>, RandomState>,
    id_order: VecDeque<Arc<str>>,
    versions: HashMap<Arc<str>, u64, RandomState>,
    version_order: VecDeque<Arc<str>>,
    window: usize,
}

impl Recent {
    pub(crate) fn new(window: usize) -> Self {
        Self {
            ids: HashMap::default(),
            id_order: VecDeque::new(),
            versions: HashMap::default(),
            version_order: VecDeque::new(),
            window: window.max(1),
        }
    }

    pub(crate) fn check(&self, event_id: &str, key: &str, version: Option<u64>) -> Check {
        if let Some(at) = self.ids.get(event_id) {
            return Check::Duplicate(*at);
        }
        if let (Some(v), Some(known)) = (version, self.versions.get(key))
            && v <= *known
        {
            return Check::Stale(*known);
        }
        Check::New
    }

    /// Marks an id as being logged (a concurrent copy is a duplicate). The id enters the
    /// eviction queue now, so recording it later is one lookup.
    pub(crate) fn reserve(&mut self, event_id: &str) {
        let id: Arc<str> = Arc::from(event_id);
        self.ids.insert(Arc::clone(&id), None);
        self.id_order.push_back(id);
        self.evict();
    }

    /// Forgets a reservation whose append failed (its queue entry goes when it comes up).
    pub(crate) fn forget(&mut self, event_id: &str) {
        if self.ids.get(event_id) == Some(&None) {
            self.ids.remove(event_id);
        }
    }

    fn evict(&mut self) {
        while self.id_order.len() > self.window {
            if let Some(old) = self.id_order.pop_front()
                && self
                    .ids
                    .get_key_value(&*old)
                    .is_some_and(|(k, _)| Arc::ptr_eq(k, &old))
            {
                self.ids.remove(&*old);
            }
        }
    }

    pub(crate) fn remember(
        &mut self,
        event_id: &str,
        partition: LogPartition,
        offset: u64,
        key: &str,
        version: Option<u64>,
    ) {
        let at = Some((partition, offset));
        match self.ids.get_mut(event_id) {
            Some(slot) => *slot = at,
            None => {
                // Not reserved (rebuilding from the log): enters the queue now.
                let id: Arc<str> = Arc::from(event_id);
                self.ids.insert(Arc::clone(&id), at);
                self.id_order.push_back(id);
                self.evict();
            }
        }
        if let Some(v) = version {
            if let Some(known) = self.versions.get_mut(key) {
                *known = (*known).max(v);
            } else {
                let key: Arc<str> = Arc::from(key);
                self.versions.insert(Arc::clone(&key), v);
                self.version_order.push_back(key);
            }
            while self.version_order.len() > self.window {
                if let Some(old) = self.version_order.pop_front() {
                    self.versions.remove(&old);
                }
            }
        }
    }
}
