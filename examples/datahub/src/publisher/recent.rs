//! The publisher's memory of recent event ids and key versions, bounded (oldest forgotten).

use std::collections::{HashMap, VecDeque};

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

#[derive(Debug)]
pub(crate) struct Recent {
    ids: HashMap<String, Option<(LogPartition, u64)>>,
    id_order: VecDeque<String>,
    versions: HashMap<String, u64>,
    version_order: VecDeque<String>,
    window: usize,
}

impl Recent {
    pub(crate) fn new(window: usize) -> Self {
        Self {
            ids: HashMap::new(),
            id_order: VecDeque::new(),
            versions: HashMap::new(),
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

    /// Marks an id as being logged (a concurrent copy is a duplicate).
    pub(crate) fn reserve(&mut self, event_id: &str) {
        self.ids.insert(event_id.to_owned(), None);
    }

    /// Forgets a reservation whose append failed.
    pub(crate) fn forget(&mut self, event_id: &str) {
        if self.ids.get(event_id) == Some(&None) {
            self.ids.remove(event_id);
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
        // Reservations are not in the order queue; an id enters it once, when logged.
        let previous = self
            .ids
            .insert(event_id.to_owned(), Some((partition, offset)));
        if !matches!(previous, Some(Some(_))) {
            self.id_order.push_back(event_id.to_owned());
        }
        while self.id_order.len() > self.window {
            if let Some(old) = self.id_order.pop_front() {
                self.ids.remove(&old);
            }
        }
        if let Some(v) = version {
            let known = self.versions.entry(key.to_owned()).or_insert(0);
            let fresh = *known == 0;
            *known = (*known).max(v);
            if fresh {
                self.version_order.push_back(key.to_owned());
            }
            while self.version_order.len() > self.window {
                if let Some(old) = self.version_order.pop_front() {
                    self.versions.remove(&old);
                }
            }
        }
    }
}
